"""A strict reader of the Prometheus text exposition format (0.0.4), written from the format's
rules so the tests check /metrics against them, not against our own renderer: HELP and TYPE
once per family and before its samples, a family's samples together, label syntax and
escapes, Go float values, no repeated series, and histogram buckets that are cumulative, end
at le="+Inf" and agree with _count, with a _sum beside them."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r"[a-zA-Z_][a-zA-Z0-9_]*"
SAMPLE = re.compile(rf"({NAME})(\{{.*\}})? (\S+)( -?\d+)?")
VALUE = re.compile(r"[+-]?(Inf|NaN|(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?)")
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}


class FormatError(AssertionError):
    pass


@dataclass
class Family:
    name: str
    type: str = "untyped"
    help: str | None = None
    samples: list[tuple[str, dict[str, str], float]] = field(default_factory=list)


def parse_value(text: str) -> float:
    if not VALUE.fullmatch(text):
        raise FormatError(f"not a float: {text!r}")
    return float(text.replace("Inf", "inf"))


def parse_labels(text: str) -> dict[str, str]:
    """`{a="x",b="y\\"z"}` with only \\\\, \\" and \\n as escapes."""
    labels: dict[str, str] = {}
    pos, body = 0, text[1:-1]
    while pos < len(body):
        match = re.compile(rf"({LABEL})=\"").match(body, pos)
        if not match:
            raise FormatError(f"bad label at {body[pos:]!r}")
        name, pos, value = match.group(1), match.end(), []
        while True:
            if pos >= len(body):
                raise FormatError(f"unterminated label value in {text!r}")
            char = body[pos]
            if char == "\\":
                escaped = body[pos + 1:pos + 2]
                if escaped not in ("\\", '"', "n"):
                    raise FormatError(f"bad escape \\{escaped} in {text!r}")
                value.append("\n" if escaped == "n" else escaped)
                pos += 2
            elif char == '"':
                pos += 1
                break
            elif char == "\n":
                raise FormatError("raw newline in a label value")
            else:
                value.append(char)
                pos += 1
        if name in labels:
            raise FormatError(f"label {name} twice in {text!r}")
        labels[name] = "".join(value)
        if pos < len(body):
            if body[pos] != ",":
                raise FormatError(f"expected ',' in {text!r}")
            pos += 1
    return labels


def family_of(sample_name: str, families: dict[str, Family]) -> str:
    for suffix in ("_bucket", "_sum", "_count"):
        base = sample_name.removesuffix(suffix)
        if base != sample_name and families.get(base, Family(base)).type in ("histogram", "summary"):
            return base
    return sample_name


def parse(text: str) -> dict[str, Family]:
    if not text.endswith("\n"):
        raise FormatError("the exposition must end with a newline")
    families: dict[str, Family] = {}
    finished: set[str] = set()
    current: str | None = None
    seen: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
    for line in text.split("\n")[:-1]:
        if not line.strip():
            continue
        if line.startswith("#"):
            parts = line.split(" ", 3)
            if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                name = parts[2]
                if not re.fullmatch(NAME, name):
                    raise FormatError(f"bad metric name {name!r}")
                family = families.setdefault(name, Family(name))
                if family.samples:
                    raise FormatError(f"{parts[1]} of {name} after its samples")
                if parts[1] == "HELP":
                    if family.help is not None:
                        raise FormatError(f"HELP of {name} twice")
                    help_text = parts[3] if len(parts) > 3 else ""
                    if re.search(r"\\[^\\n]", help_text.replace("\\\\", "")):
                        raise FormatError(f"bad escape in HELP of {name}")
                    family.help = help_text.replace("\\n", "\n").replace("\\\\", "\\")
                else:
                    if family.type != "untyped" or len(parts) != 4 or parts[3] not in TYPES:
                        raise FormatError(f"bad or repeated TYPE line {line!r}")
                    family.type = parts[3]
            continue
        match = SAMPLE.fullmatch(line)
        if not match:
            raise FormatError(f"not a sample line: {line!r}")
        name, label_text, value_text = match.group(1), match.group(2), match.group(3)
        labels = parse_labels(label_text) if label_text else {}
        base = family_of(name, families)
        if base != current:
            if base in finished:
                raise FormatError(f"samples of {base} are not together")
            if current is not None:
                finished.add(current)
            current = base
        key = (name, tuple(sorted(labels.items())))
        if key in seen:
            raise FormatError(f"series {key} twice")
        seen.add(key)
        families.setdefault(base, Family(base)).samples.append((name, labels, parse_value(value_text)))
    for family in families.values():
        check_family(family)
    return families


def check_family(family: Family) -> None:
    if family.type == "counter":
        for name, labels, value in family.samples:
            if value < 0 or math.isnan(value):
                raise FormatError(f"counter {name}{labels} is {value}")
    if family.type != "histogram":
        return
    series: dict[tuple[tuple[str, str], ...], dict[str, list]] = {}
    for name, labels, value in family.samples:
        rest = tuple(sorted((k, v) for k, v in labels.items() if k != "le"))
        parts = series.setdefault(rest, {"bucket": [], "sum": [], "count": []})
        suffix = name[len(family.name) + 1:]
        if suffix not in parts:
            raise FormatError(f"{name} is not part of histogram {family.name}")
        if suffix == "bucket":
            if "le" not in labels:
                raise FormatError(f"{name}{labels} has no le")
            parts["bucket"].append((parse_value(labels["le"]), value))
        elif "le" in labels:
            raise FormatError(f"{name} with le")
        else:
            parts[suffix].append(value)
    for rest, parts in series.items():
        buckets = parts["bucket"]
        if not buckets or buckets[-1][0] != math.inf:
            raise FormatError(f"{family.name}{dict(rest)}: the last bucket is not le=\"+Inf\"")
        bounds = [b for b, _ in buckets]
        counts = [c for _, c in buckets]
        if bounds != sorted(bounds) or len(set(bounds)) != len(bounds):
            raise FormatError(f"{family.name}{dict(rest)}: buckets not in increasing le order")
        if counts != sorted(counts):
            raise FormatError(f"{family.name}{dict(rest)}: bucket counts are not cumulative")
        if len(parts["sum"]) != 1 or parts["count"] != [counts[-1]]:
            raise FormatError(f"{family.name}{dict(rest)}: _sum/_count missing or _count != +Inf bucket")


def value(families: dict[str, Family], sample_name: str, **labels: str) -> float | None:
    base = family_of(sample_name, families)
    for name, found, number in families.get(base, Family(base)).samples:
        if name == sample_name and found == labels:
            return number
    return None
