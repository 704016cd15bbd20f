"""Well-known paths of the repository."""
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
INVENTORIES = REPO_ROOT / "inventories"
ROLES = REPO_ROOT / "roles"
IMAGES_DIR = REPO_ROOT / "files" / "images"
VENV_BIN = REPO_ROOT / ".venv" / "bin"


def environments() -> list[str]:
    """Names of the inventories under inventories/ (local, staging, production)."""
    return sorted(p.name for p in INVENTORIES.iterdir() if (p / "hosts.yml").exists())
