#!/usr/bin/python
"""Ansible module: converge a directory to a set of generated text files in one call.

One module run per file set instead of one `copy` per file: the contents are compared by digest on the host and
only what differs is written (atomically, with mode and owner), so a run where nothing changed costs one call.
With `validate`, the complete new set is first staged in a temporary directory and the command (with %s replaced
by that directory) must succeed before any live file is replaced: a bad change fails here and the live files stay
as they were. With `purge`, files in `dest` that are not in the set (and match `purge_patterns`) are removed.
"""
from __future__ import annotations

DOCUMENTATION = r"""
module: stack_files
short_description: Write a set of generated text files into a directory in one call, validated before replacing.
options:
  dest: {description: Directory to converge (created with directory_mode/owner/group if missing)., type: path, required: true}
  files: {description: "Relative path -> text content.", type: dict, required: true}
  mode: {description: Mode of every file., type: str, default: "0644"}
  owner: {description: Owner of the files and of dest., type: str}
  group: {description: Group of the files and of dest., type: str}
  directory_mode: {description: Mode of dest and of created subdirectories., type: str, default: "0755"}
  purge: {description: Remove files in dest that are not in the set., type: bool, default: false}
  purge_patterns: {description: Only purge names matching one of these globs., type: list, elements: str, default: ["*"]}
  validate: {description: "Command run on the staged complete set (%s = its directory) before replacing anything.", type: str}
"""

import fnmatch
import grp
import hashlib
import os
import pwd
import shutil
import subprocess
import tempfile

from ansible.module_utils.basic import AnsibleModule


def _digest(path: str) -> str | None:
    try:
        with open(path, "rb") as fh:
            return hashlib.sha256(fh.read()).hexdigest()
    except FileNotFoundError:
        return None


def _ids(owner: str | None, group: str | None) -> tuple[int, int]:
    uid = -1 if owner is None else (int(owner) if owner.isdigit() else pwd.getpwnam(owner).pw_uid)
    gid = -1 if group is None else (int(group) if group.isdigit() else grp.getgrnam(group).gr_gid)
    return uid, gid


def _fix_attrs(path: str, mode: int, uid: int, gid: int) -> bool:
    """Set mode and owner; True if anything had to change."""
    st = os.lstat(path)
    changed = False
    if (st.st_mode & 0o7777) != mode:
        os.chmod(path, mode)
        changed = True
    if (uid != -1 and st.st_uid != uid) or (gid != -1 and st.st_gid != gid):
        os.chown(path, uid, gid)
        changed = True
    return changed


def _safe_relpath(rel: str) -> str:
    norm = os.path.normpath(rel)
    if os.path.isabs(norm) or norm.startswith("..") or norm in ("", "."):
        raise ValueError(f"file name {rel!r} must be a relative path inside dest")
    return norm


def run(module: AnsibleModule) -> dict:
    p = module.params
    dest = p["dest"]
    mode = int(p["mode"], 8)
    dmode = int(p["directory_mode"], 8)
    uid, gid = _ids(p["owner"], p["group"])
    try:
        wanted = {_safe_relpath(k): ("" if v is None else str(v)).encode() for k, v in p["files"].items()}
    except ValueError as exc:
        module.fail_json(msg=str(exc))

    to_write = sorted(rel for rel, data in wanted.items()
                      if _digest(os.path.join(dest, rel)) != hashlib.sha256(data).hexdigest())
    to_remove = []
    if p["purge"] and os.path.isdir(dest):
        for root, _dirs, names in os.walk(dest):
            for name in names:
                rel = os.path.relpath(os.path.join(root, name), dest)
                if rel not in wanted and any(fnmatch.fnmatch(name, pat) for pat in p["purge_patterns"]):
                    to_remove.append(rel)
    to_remove.sort()
    result = {"changed": bool(to_write or to_remove), "written": to_write, "removed": to_remove, "dest": dest}

    if module.check_mode:
        return result

    if p["validate"] and (to_write or to_remove):
        stage = tempfile.mkdtemp(prefix="stack-files-")
        try:
            os.chmod(stage, 0o755)
            for rel, data in wanted.items():
                path = os.path.join(stage, rel)
                os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
                with open(path, "wb") as fh:
                    fh.write(data)
                os.chmod(path, 0o644)
            cmd = p["validate"].replace("%s", stage) if "%s" in p["validate"] else f"{p['validate']} {stage}"
            proc = subprocess.run(cmd, shell=True, capture_output=True, text=True)
            if proc.returncode != 0:
                module.fail_json(msg=f"validation of the new files for {dest} failed; nothing was replaced",
                                 cmd=cmd, rc=proc.returncode, stdout=proc.stdout, stderr=proc.stderr)
        finally:
            shutil.rmtree(stage, ignore_errors=True)

    if not os.path.isdir(dest):
        os.makedirs(dest, mode=dmode)
        result["changed"] = True
    if _fix_attrs(dest, dmode, uid, gid):
        result["changed"] = True
    for rel in to_write:
        path = os.path.join(dest, rel)
        parent = os.path.dirname(path)
        if not os.path.isdir(parent):
            os.makedirs(parent, mode=dmode)
            _fix_attrs(parent, dmode, uid, gid)
        fd, tmp = tempfile.mkstemp(dir=parent, prefix=".stack-files-")
        with os.fdopen(fd, "wb") as fh:
            fh.write(wanted[rel])
        _fix_attrs(tmp, mode, uid, gid)
        os.replace(tmp, path)
    for rel in wanted:
        if rel not in to_write and _fix_attrs(os.path.join(dest, rel), mode, uid, gid):
            result["changed"] = True
            result["written"].append(rel)
    for rel in to_remove:
        os.unlink(os.path.join(dest, rel))
    return result


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "dest": {"type": "path", "required": True},
            "files": {"type": "dict", "required": True},
            "mode": {"type": "str", "default": "0644"},
            "owner": {"type": "str"},
            "group": {"type": "str"},
            "directory_mode": {"type": "str", "default": "0755"},
            "purge": {"type": "bool", "default": False},
            "purge_patterns": {"type": "list", "elements": "str", "default": ["*"]},
            "validate": {"type": "str"},
        },
        supports_check_mode=True,
    )
    module.exit_json(**run(module))


if __name__ == "__main__":
    main()
