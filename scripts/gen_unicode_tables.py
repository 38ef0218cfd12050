#!/usr/bin/env python3
"""Generate `rust/l2t-core/src/text/unicode_tables.rs` from this Python's `str` methods.

The Rust module `text::pychars` must reproduce Python 3 `str` semantics exactly
(`isspace`, `isalnum`, `isalpha`, `isdigit`, `isupper`, `lower`, `capitalize`).
Rust's own `char` predicates follow different definitions (e.g. `char::is_whitespace`
is not `str.isspace`) and a different Unicode version that changes with the compiler,
so every table is taken from the *behaviour* of the running Python, one code point at
a time, rather than from Rust or from the UCD files. Run it with the Python whose
semantics the library must match (CPython 3.11 / Unicode 14.0 for l2t):

    python3.11 scripts/gen_unicode_tables.py [OUTPUT]

OUTPUT defaults to the path above, relative to the repository root.
"""

import pathlib
import platform
import sys
import unicodedata

MAX_CODE_POINT = 0x110000
SIGMA = "\u03a3"
FINAL_SIGMA = "\u03c2"
DEFAULT_OUTPUT = (
    pathlib.Path(__file__).resolve().parent.parent
    / "rust"
    / "l2t-core"
    / "src"
    / "text"
    / "unicode_tables.rs"
)


def is_surrogate(cp):
    return 0xD800 <= cp < 0xE000


def scalar_values():
    """Every code point a Rust `char` can hold (surrogates excluded)."""
    return (cp for cp in range(MAX_CODE_POINT) if not is_surrogate(cp))


def members(pred):
    """The scalar values where pred(chr(cp)), in order."""
    for cp in range(0xD800, 0xE000):
        # Rust cannot represent surrogates; make sure nothing is silently lost.
        assert not pred(chr(cp)), f"surrogate U+{cp:04X} is in a class"
    return [cp for cp in scalar_values() if pred(chr(cp))]


def sigma_is_final(text, index):
    return text.lower()[index] == FINAL_SIGMA


def case_properties():
    """`Case_Ignorable` and `Cased` as Python's lower() uses them for the final sigma.

    Python exposes neither property, so both are probed through `str.lower()`'s
    Final_Sigma rule (`cased case-ignorable* SIGMA !(case-ignorable* cased)`):
      p1: c + SIGMA           -> final iff c is cased and not case-ignorable
      p2: "A" + c + SIGMA     -> final iff c is case-ignorable or cased
      p3: "A" + SIGMA + c     -> final iff c is case-ignorable or not cased
    so case-ignorable == p2 and p3. `Cased` is Lowercase | Uppercase | Lt, i.e. Python's
    islower/isupper/istitle flags; it is cross-checked against p1 where observable.
    """
    ignorable = set()
    cased = set()
    for cp in scalar_values():
        c = chr(cp)
        p1 = sigma_is_final(c + SIGMA, -1)
        p2 = sigma_is_final("A" + c + SIGMA, -1)
        p3 = sigma_is_final("A" + SIGMA + c, 1)
        is_ignorable = p2 and p3
        is_cased = c.islower() or c.isupper() or c.istitle()
        if not is_ignorable:
            assert p1 == is_cased, f"cased mismatch at U+{cp:04X}"
        if unicodedata.category(c) in ("Mn", "Me", "Cf", "Lm", "Sk"):
            assert is_ignorable, f"U+{cp:04X} should be case-ignorable"
        if is_ignorable:
            ignorable.add(cp)
        if is_cased:
            cased.add(cp)
    return ignorable, cased


def mappings(fn):
    """(single, multi): code points whose fn(chr(cp)) differs from chr(cp)."""
    single, multi = [], []
    for cp in scalar_values():
        c = chr(cp)
        m = fn(c)
        if m == c:
            continue
        if len(m) == 1:
            single.append((cp, ord(m)))
        else:
            multi.append((cp, m))
    return single, multi


def rust_str(s):
    out = []
    for ch in s:
        if ch in '"\\':
            out.append("\\" + ch)
        elif " " <= ch <= "~":
            out.append(ch)
        else:
            out.append(f"\\u{{{ord(ch):X}}}")
    return '"' + "".join(out) + '"'


BLOCK_SHIFT = 8
BLOCK_WORDS = (MAX_CODE_POINT >> BLOCK_SHIFT) // 64


def block_size(block):
    """Number of scalar values in a block (the surrogate blocks hold none)."""
    lo = block << BLOCK_SHIFT
    return sum(1 for cp in range(lo, lo + (1 << BLOCK_SHIFT)) if not is_surrogate(cp))


def block_bitmap(blocks):
    words = [0] * BLOCK_WORDS
    for b in blocks:
        words[b // 64] |= 1 << (b % 64)
    return words


def block_summaries(members):
    """(any, all) bitmaps over 256-code-point blocks for a set of code points."""
    count = {}
    for cp in members:
        count[cp >> BLOCK_SHIFT] = count.get(cp >> BLOCK_SHIFT, 0) + 1
    full = [b for b, n in count.items() if n == block_size(b)]
    return block_bitmap(count), block_bitmap(full)


def emit_words(lines, field, words, per_line=4):
    lines.append(f"    {field}: [")
    for i in range(0, len(words), per_line):
        lines.append("        " + " ".join(f"0x{w:016X}," for w in words[i : i + per_line]))
    lines.append("    ],")


def emit_pairs(lines, field, pairs, per_line=4):
    lines.append(f"    {field}: &[")
    for i in range(0, len(pairs), per_line):
        chunk = pairs[i : i + per_line]
        lines.append("        " + " ".join(f"(0x{a:04X}, 0x{b:04X})," for a, b in chunk))
    lines.append("    ],")


def emit_class(lines, name, doc, members):
    members = sorted(members)
    rs = []
    for cp in members:
        if rs and rs[-1][1] == cp - 1:
            rs[-1][1] = cp
        else:
            rs.append([cp, cp])
    any_, all_ = block_summaries(members)
    ascii_ = sum(1 << cp for cp in members if cp < 128)
    lines.append(f"/// {doc}")
    lines.append("#[rustfmt::skip]")
    lines.append(f"pub(super) static {name}: Class = Class {{")
    lines.append(f"    ascii: 0x{ascii_:032X},")
    emit_words(lines, "any", any_)
    emit_words(lines, "all", all_)
    emit_pairs(lines, "ranges", rs)
    lines.append("};")
    lines.append("")


CASE_MAP_BLOCKS = 0x20000 >> BLOCK_SHIFT


def emit_case_map(lines, name, doc, single, multi):
    changed = sorted([cp for cp, _ in single] + [cp for cp, _ in multi])
    # Every cased script is in planes 0-1; the Rust side relies on that bound.
    assert changed[-1] < CASE_MAP_BLOCKS << BLOCK_SHIFT, f"U+{changed[-1]:X} beyond plane 1"
    leaves = {}
    for cp in changed:
        words = leaves.setdefault(cp >> BLOCK_SHIFT, [0, 0, 0, 0])
        low = cp & 0xFF
        words[low >> 6] |= 1 << (low & 63)
    order = sorted(leaves)
    assert len(order) < 256, "leaf index must fit in a u8"
    block_leaf = [0] * CASE_MAP_BLOCKS
    for i, block in enumerate(order):
        block_leaf[block] = i + 1
    lines.append(f"/// {doc}")
    lines.append("#[rustfmt::skip]")
    lines.append(f"pub(super) static {name}: CaseMap = CaseMap {{")
    lines.append("    block_leaf: [")
    for i in range(0, CASE_MAP_BLOCKS, 16):
        lines.append("        " + " ".join(f"{v}," for v in block_leaf[i : i + 16]))
    lines.append("    ],")
    lines.append("    leaves: &[")
    for block in order:
        words = ", ".join(f"0x{w:016X}" for w in leaves[block])
        lines.append(f"        [{words}], // U+{block << BLOCK_SHIFT:04X}")
    lines.append("    ],")
    emit_pairs(lines, "single", single)
    lines.append("    multi: &[")
    for cp, m in multi:
        lines.append(f"        (0x{cp:04X}, {rust_str(m)}),")
    lines.append("    ],")
    lines.append("};")
    lines.append("")


def main():
    output = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_OUTPUT
    py = f"{platform.python_implementation()} {platform.python_version()}"
    uni = unicodedata.unidata_version

    classes = [
        ("SPACE", "`str.isspace()`; also the separators of `str.split()`.", str.isspace),
        ("ALNUM", "`str.isalnum()`.", str.isalnum),
        ("ALPHA", "`str.isalpha()`.", str.isalpha),
        ("DIGIT", "`str.isdigit()`.", str.isdigit),
        ("UPPER", "`str.isupper()` of a one-character string.", str.isupper),
    ]
    ignorable, cased = case_properties()
    lower_single, lower_multi = mappings(str.lower)
    title_single, title_multi = mappings(str.title)
    # For one character, capitalize() (3.8+) and title() are both the full title mapping.
    assert mappings(str.capitalize) == (title_single, title_multi)

    lines = [
        "//! Character-class and case-mapping tables for `text::pychars`, taken from the",
        f"//! `str` methods of `{py}` (Unicode {uni}).",
        "//!",
        "//! GENERATED by `scripts/gen_unicode_tables.py` -- do not edit; rerun the script with the",  # noqa: E501
        "//! Python whose `str` semantics l2t must match. Range tables are sorted, inclusive and",
        "//! disjoint (binary-searched); mapping tables are sorted by code point and list only the",
        "//! characters that change. Surrogates are excluded (a Rust `char` cannot hold one).",
        "//! Block bitmaps and per-character leaves summarise the tables so most lookups skip the",
        "//! binary search.",
        "",
        "#![allow(clippy::unreadable_literal)]",
        "",
        "use super::{CaseMap, Class};",
        "",
        "/// Unicode version of the Python that generated these tables.",
        f'pub(super) const UNICODE_VERSION: &str = "{uni}";',
        "",
        "/// Version of the Python that generated these tables.",
        f'pub(super) const PYTHON_VERSION: &str = "{py}";',
        "",
        "/// Number of `u64` words in a bitmap with one bit per 256-code-point block.",
        f"pub(super) const BLOCK_WORDS: usize = {BLOCK_WORDS};",
        "",
        "/// Number of 256-code-point blocks a `CaseMap` covers (planes 0 and 1).",
        f"pub(super) const CASE_MAP_BLOCKS: usize = {CASE_MAP_BLOCKS};",
        "",
    ]
    for name, doc, pred in classes:
        emit_class(lines, name, doc, members(pred))
    emit_class(
        lines,
        "CASE_IGNORABLE",
        "`Case_Ignorable`, as `str.lower()` uses it for the final sigma.",
        ignorable,
    )
    emit_class(
        lines,
        "CASED",
        "`Cased` (Lowercase | Uppercase | Lt), as `str.lower()` uses it for the final sigma.",
        cased,
    )
    emit_case_map(
        lines,
        "LOWER",
        "`str.lower()` of one character (the final sigma is handled by the caller).",
        lower_single,
        lower_multi,
    )
    emit_case_map(
        lines,
        "TITLE",
        "Full title-case mapping (`str.capitalize()` of one character).",
        title_single,
        title_multi,
    )
    while lines[-1] == "":
        lines.pop()
    output.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {output} from {py} (Unicode {uni})", file=sys.stderr)


if __name__ == "__main__":
    main()
