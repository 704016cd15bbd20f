"""A strict parser for the LogQL the project writes (no LogQL checker can run here: Loki cannot be installed).

`check(expr, metric=True)` returns a list of problems ([] = OK). It accepts:

- stream selectors `{l="v", l!="v", l=~"re", l!~"re"}` with at least one matcher that cannot match the empty
  string (Loki rejects the others);
- line filters `|=`, `!=`, `|~`, `!~` (with `or` alternatives), parsers `| json`, `| logfmt`, `| regexp "…"`,
  `| pattern "…"`, `| unpack`, label filters `| l = "v"`, `| l > 5`, `| line_format "…"`, `| label_format a=b`,
  `| drop …`, `| keep …`, `| decolorize`, `| unwrap l`;
- range aggregations (`rate`, `count_over_time`, `bytes_over_time`, `absent_over_time`, `*_over_time` …) over
  `selector pipeline [range]` (or `selector [range] pipeline`) with an optional `offset`;
- vector aggregations (`sum`, `avg`, `min`, `max`, `count`, `topk`, …) with `by`/`without`, `vector(n)`,
  numbers, parentheses, and binary operators (arithmetic, comparison with optional `bool`, `and`/`or`/`unless`).

Strings are Go strings: "double-quoted" with escapes or `raw`. Regular expressions are compiled with RE2 (the
`google-re2` binding; look-around and back-references are refused with a named reason). Not checked: label-name
existence, type rules between vector and scalar operands beyond the grammar, `unwrap` conversion functions.
"""
from __future__ import annotations

import re

RANGE_FUNCS = {"rate", "count_over_time", "bytes_rate", "bytes_over_time", "absent_over_time", "rate_counter",
               "sum_over_time", "avg_over_time", "max_over_time", "min_over_time", "stddev_over_time",
               "stdvar_over_time", "quantile_over_time", "first_over_time", "last_over_time"}
UNWRAP_FUNCS = RANGE_FUNCS - {"rate", "count_over_time", "bytes_rate", "bytes_over_time", "absent_over_time"}
VECTOR_AGGS = {"sum", "avg", "min", "max", "count", "stddev", "stdvar", "topk", "bottomk", "sort", "sort_desc"}
PARAM_AGGS = {"topk", "bottomk"}
BINOPS = {"+", "-", "*", "/", "%", "^", "==", "!=", ">", "<", ">=", "<=", "and", "or", "unless"}
COMPARISONS = {"==", "!=", ">", "<", ">=", "<="}
LINE_FILTERS = {"|=", "!=", "|~", "!~"}
MATCH_OPS = {"=", "!=", "=~", "!~"}
DURATION = re.compile(r"^(\d+(ms|s|m|h|d|w|y))+$")

_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<string>"(?:[^"\\]|\\.)*"|`[^`]*`)
  | (?P<duration>\d+(?:ms|s|m|h|d|w|y)(?:\d+(?:ms|s|m|h|d|w|y))*(?![A-Za-z0-9_]))
  | (?P<number>\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
  | (?P<op>\|=|\|~|!=|!~|=~|==|>=|<=|[|=<>+\-*/%^(){}\[\],])
  | (?P<ident>[A-Za-z_][A-Za-z0-9_.]*)
""", re.VERBOSE)


class LogQLError(ValueError):
    pass


def tokenize(expr: str) -> list[tuple[str, str]]:
    tokens, pos = [], 0
    while pos < len(expr):
        m = _TOKEN.match(expr, pos)
        if not m:
            raise LogQLError(f"unexpected character {expr[pos]!r} at position {pos}")
        if m.lastgroup != "ws":
            tokens.append((m.lastgroup, m.group()))
        pos = m.end()
    return tokens


def unquote(token: str) -> str:
    if token.startswith("`"):
        return token[1:-1]
    try:
        return bytes(token[1:-1], "utf-8").decode("unicode_escape")
    except UnicodeDecodeError as exc:
        raise LogQLError(f"bad escape in string {token}: {exc}") from None


def compile_re2(pattern: str):
    """Compile with RE2 (the `google-re2` binding of the engine Go's regexp implements): what Loki, Promtail and
    Alloy accept. Raises LogQLError naming the pattern and RE2's reason."""
    import re2

    options = re2.Options()
    options.log_errors = False
    try:
        return re2.compile(pattern, options)
    except re2.error as exc:
        reason = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise LogQLError(f"invalid regular expression {pattern!r} (RE2: {reason})") from None


def check_regex(pattern: str) -> None:
    """Compile a regular expression with RE2 (Go's syntax: no look-around, no back-references), never only with
    Python `re`, which accepts syntax RE2 rejects."""
    if re.search(r"\(\?<?[=!]", pattern):
        raise LogQLError(f"look-around is not supported by RE2: {pattern!r}")
    if re.search(r"\\[1-9]", pattern):
        raise LogQLError(f"back-references are not supported by RE2: {pattern!r}")
    compile_re2(pattern)


class _Parser:
    def __init__(self, expr: str):
        self.tokens = tokenize(expr)
        self.i = 0

    # token helpers
    def peek(self, offset: int = 0) -> tuple[str, str]:
        j = self.i + offset
        return self.tokens[j] if j < len(self.tokens) else ("eof", "")

    def take(self, value: str | None = None, kind: str | None = None) -> str:
        k, v = self.peek()
        if (value is not None and v != value) or (kind is not None and k != kind) or k == "eof":
            want = value or kind
            raise LogQLError(f"expected {want!r} but found {v or 'end of query'!r} (token {self.i + 1})")
        self.i += 1
        return v

    def accept(self, value: str) -> bool:
        if self.peek()[1] == value and self.peek()[0] != "string":
            self.i += 1
            return True
        return False

    # grammar
    def query(self, metric: bool) -> None:
        if self.peek()[1] == "{":
            if metric:
                raise LogQLError("a log query (stream selector and pipeline) where a metric query is required")
            self.selector()
            self.pipeline()
        else:
            self.expr()
        if self.peek()[0] != "eof":
            raise LogQLError(f"unexpected {self.peek()[1]!r} after the end of the query")

    def expr(self) -> None:
        self.unary()
        while self.peek()[1] in BINOPS and self.peek()[0] in ("op", "ident"):
            op = self.take()
            if op in COMPARISONS:
                self.accept("bool")
            if self.peek()[1] in ("on", "ignoring"):
                self.take()
                self.label_list()
            if self.peek()[1] in ("group_left", "group_right"):
                self.take()
                if self.peek()[1] == "(":
                    self.label_list()
            self.unary()

    def unary(self) -> None:
        k, v = self.peek()
        if v in ("-", "+") and k == "op":
            self.take()
            return self.unary()
        if k == "number":
            self.take()
            return None
        if v == "(":
            self.take()
            self.expr()
            self.take(")")
            return None
        if k == "ident" and v in RANGE_FUNCS:
            return self.range_aggregation()
        if k == "ident" and v in VECTOR_AGGS:
            return self.vector_aggregation()
        if k == "ident" and v == "vector":
            self.take()
            self.take("(")
            self.take(kind="number")
            self.take(")")
            return None
        if k == "ident" and v in ("label_replace",):
            raise LogQLError("label_replace is not supported by this checker")
        raise LogQLError(f"expected a number, '(', an aggregation or a range function, found {v or 'end'!r}")

    def grouping(self) -> bool:
        if self.peek()[1] in ("by", "without") and self.peek()[0] == "ident":
            self.take()
            self.label_list()
            return True
        return False

    def label_list(self) -> None:
        self.take("(")
        if self.accept(")"):
            return
        self.take(kind="ident")
        while self.accept(","):
            self.take(kind="ident")
        self.take(")")

    def vector_aggregation(self) -> None:
        name = self.take()
        before = self.grouping()
        self.take("(")
        if name in PARAM_AGGS:
            self.take(kind="number")
            self.take(",")
        self.expr()
        self.take(")")
        if not before:
            self.grouping()

    def range_aggregation(self) -> None:
        name = self.take()
        self.take("(")
        if name == "quantile_over_time":
            self.take(kind="number")
            self.take(",")
        self.selector()
        unwrapped = False
        if self.peek()[1] == "[":
            self.range()
            unwrapped = self.pipeline()
        else:
            unwrapped = self.pipeline()
            self.range()
        if self.accept("offset"):
            self.take(kind="duration")
        self.take(")")
        if name in UNWRAP_FUNCS and not unwrapped:
            raise LogQLError(f"{name} needs an `| unwrap <label>` stage")
        if name not in UNWRAP_FUNCS and unwrapped:
            raise LogQLError(f"{name} does not take an unwrapped range")
        self.grouping()

    def range(self) -> None:
        if self.peek()[1] != "[":
            raise LogQLError(f"a range aggregation needs a range duration such as [5m], found {self.peek()[1]!r}")
        self.take("[")
        k, v = self.peek()
        if k != "duration":
            raise LogQLError(f"expected a duration such as 5m in the range, found {v!r}")
        self.take()
        self.take("]")

    def selector(self) -> None:
        self.take("{")
        matchers = []
        while True:
            name = self.take(kind="ident")
            op = self.take()
            if op not in MATCH_OPS:
                raise LogQLError(f"bad matcher operator {op!r} for label {name}")
            value = unquote(self.take(kind="string"))
            if op in ("=~", "!~"):
                check_regex(value)
            matchers.append((name, op, value))
            if not self.accept(","):
                break
        self.take("}")
        if not any((op == "=" and value) or (op == "=~" and not re.fullmatch(value, ""))
                   for _, op, value in matchers):
            raise LogQLError("the stream selector needs at least one matcher that does not match the empty value "
                             "(Loki rejects queries that would select every stream)")

    def pipeline(self) -> bool:
        """Parse pipeline stages; returns True when an `unwrap` stage was seen."""
        unwrapped = False
        while True:
            k, v = self.peek()
            if k == "op" and v in LINE_FILTERS:
                self.take()
                self.filter_value(v)
                while self.peek()[1] == "or" and self.peek(1)[0] == "string":
                    self.take()
                    self.filter_value(v)
                continue
            if k == "op" and v == "|":
                self.take()
                unwrapped |= self.stage()
                continue
            return unwrapped

    def filter_value(self, op: str) -> None:
        value = unquote(self.take(kind="string"))
        if op in ("|~", "!~"):
            check_regex(value)

    def stage(self) -> bool:
        k, v = self.peek()
        if k != "ident":
            raise LogQLError(f"expected a pipeline stage after '|', found {v!r}")
        if v in ("json", "logfmt") and self.peek(1)[1] not in MATCH_OPS | COMPARISONS:
            self.take()
            while self.peek()[0] == "ident" and self.peek(1)[1] == "=":  # json a="b", c="d"
                self.take()
                self.take("=")
                self.take(kind="string")
                if not self.accept(","):
                    break
            return False
        if v in ("regexp", "pattern", "line_format"):
            self.take()
            value = unquote(self.take(kind="string"))
            if v == "regexp":
                check_regex(value)
                if "(?P<" not in value:
                    raise LogQLError("a regexp parser needs at least one named capture group (?P<name>…)")
            return False
        if v in ("unpack", "decolorize"):
            self.take()
            return False
        if v == "label_format":
            self.take()
            while True:
                self.take(kind="ident")
                self.take("=")
                nk, _ = self.peek()
                self.take(kind="string" if nk == "string" else "ident")
                if not self.accept(","):
                    return False
        if v in ("drop", "keep"):
            self.take()
            while True:
                self.take(kind="ident")
                if self.peek()[1] in MATCH_OPS:
                    self.take()
                    self.take(kind="string")
                if not self.accept(","):
                    return False
        if v == "unwrap":
            self.take()
            if self.peek(1)[1] == "(":  # duration(label) / bytes(label)
                self.take()
                self.take("(")
                self.take(kind="ident")
                self.take(")")
            else:
                self.take(kind="ident")
            return True
        self.label_filter()
        return False

    def label_filter(self) -> None:
        while True:
            if self.accept("("):
                self.label_filter()
                self.take(")")
            else:
                name = self.take(kind="ident")
                op = self.take()
                if op not in MATCH_OPS | COMPARISONS:
                    raise LogQLError(f"bad label filter operator {op!r} for {name}")
                k, v = self.peek()
                if k not in ("string", "number", "duration"):
                    raise LogQLError(f"expected a value after {name} {op}, found {v!r}")
                self.take()
                if op in ("=~", "!~"):
                    check_regex(unquote(v))
            if self.peek()[1] in ("and", "or", ",") and self.peek(1)[0] in ("ident", "op"):
                self.take()
                continue
            return


def check(expr: str, metric: bool = True) -> list[str]:
    """Problems with a LogQL query ([] = OK); metric=True requires a metric query (what rules evaluate)."""
    if not isinstance(expr, str) or not expr.strip():
        return ["empty LogQL expression"]
    try:
        _Parser(expr).query(metric)
    except LogQLError as exc:
        return [f"{exc} in {expr!r}"]
    return []
