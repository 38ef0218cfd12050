"""Pure-Python statistics for comparing l2t's examples with the reference samples.

Two halves, both free of l2t and of scipy so that they can be checked on the reference data alone:

* **Measures** read one (prompt, completion) pair and recover what the generator drew: the share
  of characters or words it corrupted, which template branch it took (labels, separators, order),
  which Token Type sub-task it asked. They follow TASKS.md §1.4 and assume nothing else, so the
  same code reads the reference's examples and l2t's.
* **Tests** are the textbook ones: two-sample z-tests on means and proportions, chi-square
  homogeneity and goodness-of-fit tests (the survival function is the regularized upper incomplete
  gamma function, computed by its series or continued fraction), and the two-sample
  Kolmogorov-Smirnov distance with its asymptotic critical value.
"""

from __future__ import annotations

import math
import string
from collections.abc import Iterable, Sequence

MASKS = ("[MASK]", "___", "@@@", "###", "+++", "<<>>", "(())", "$$$")
ANCHORS = ("Answer:", "Response:", "A:", "(A)", "A)", "A.", "")
PUNCTUATION = frozenset(string.punctuation)

# Option labels of Last (18 pairs) and Fill Middle (24 pairs); each label has a trailing space.
_LAST_PAIRS = "[a] [b]|[A] [B]|1. 2.|A. B.|a. b.|i. ii.|1: 2:|A: B:|a: b:|i: ii:|(1) (2)|(A) (B)|"
_LAST_PAIRS += "(a) (b)|(i) (ii)|1) 2)|A) B)|a) b)|i) ii)"
_FILL_PAIRS = "[1] [3]|[A] [C]|[a] [c]|[i] [iii]|[First] [Third]|[Opening] [Closing]|1. 3.|A. C.|"
_FILL_PAIRS += "a. c.|i. iii.|1: 3:|A: C:|a: c:|i: iii:|First: Third:|Opening: Closing:|(1) (3)|"
_FILL_PAIRS += "(A) (C)|(a) (c)|(i) (iii)|1) 3)|A) C)|a) c)|i) iii)"
LAST_LABELS = tuple(tuple(f"{x} " for x in p.split(" ")) for p in _LAST_PAIRS.split("|"))
FILL_LABELS = tuple(tuple(f"{x} " for x in p.split(" ")) for p in _FILL_PAIRS.split("|"))

TOKEN_TYPE_KINDS = ("content", "stop", "digit", "punct")


# --------------------------------------------------------------------------------------- measures


def masked_char_counts(prompt: str, completion: str) -> tuple[int, int]:
    """(masked letters, maskable letters) of a Masked Char pair."""
    return masked_char_alignment(prompt, completion)[1:]


def masked_char_alignment(prompt: str, completion: str) -> tuple[str, int, int]:
    """(mask string, masked letters, maskable letters) of a Masked Char pair.

    Walks the original (completion) and the masked text (prompt) together: a maskable character
    (``isalnum() and not isdigit()``) whose counterpart differs was replaced by the chunk's mask
    string, which never starts with a maskable character, so the walk is unambiguous.
    """
    valid = sum(1 for c in completion if c.isalnum() and not c.isdigit())
    for mask in MASKS:
        p, masked = 0, 0
        for c in completion:
            if c.isalnum() and not c.isdigit() and not prompt.startswith(c, p):
                if not prompt.startswith(mask, p):
                    break
                p += len(mask)
                masked += 1
            elif prompt.startswith(c, p):
                p += 1
            else:
                break
        else:
            if p == len(prompt):
                return mask, masked, valid
    raise ValueError(f"not a Masked Char pair: {prompt[:80]!r} / {completion[:80]!r}")


def mask_strings(task: str, prompt: str, completion: str) -> list[str]:
    """The mask strings drawn for one example: one per chunk (Masked Char, Last) or per word."""
    if task == "masked_char":
        mask, masked, _ = masked_char_alignment(prompt, completion)
        return [mask] if masked else []
    if task == "masked_word":
        return [p for p, c in zip(prompt.split(), completion.split(), strict=True) if p != c]
    if task == "last":
        question = _last_parts(prompt)[0].removesuffix("?")
        return [next(m for m in MASKS if question.endswith(" " + m))]
    raise ValueError(f"no mask strings in {task}")


def typo_counts(prompt: str, completion: str) -> tuple[int, int]:
    """(changed alphanumerics, alphanumerics) of a Typo pair (same length; no-op draws unseen)."""
    if len(prompt) != len(completion):
        raise ValueError("a Typo prompt has the chunk's length")
    changed = sum(1 for a, b in zip(prompt, completion, strict=True) if a != b)
    return changed, sum(1 for c in completion if c.isalnum())


def changed_words(prompt: str, completion: str) -> tuple[int, int]:
    """(positions whose word differs, words) of a word-level pair (Masked/Random Word, Shuffle)."""
    p, c = prompt.split(), completion.split()
    if len(p) != len(c):
        raise ValueError("word-level corruptions keep the number of words")
    return sum(1 for a, b in zip(p, c, strict=True) if a != b), len(c)


def _last_parts(prompt: str) -> tuple[str, str, str, bool]:
    """(context, first option line, second option line, "Options:" header) of a Last prompt.

    Options hold no newline (sentences never do), so the last two lines are the options.
    """
    lines = prompt.split("\n")
    header = lines[-3] == "Options:" and lines[-4] == ""
    return "\n".join(lines[: -4 if header else -3]), lines[-2], lines[-1], header


def last_structure(prompt: str, completion: str) -> dict[str, bool]:
    """The template branches of a Last example (TASKS.md §1.4, steps 4-9)."""
    context, opt1, opt2, header = _last_parts(prompt)
    labelled = any(opt1.startswith(a) and opt2.startswith(b) for a, b in LAST_LABELS)
    return {
        "labelled": labelled,
        "question_line": "\n\nQuestion: " in context,
        "options_header": header,
        "question_mark": any(context.endswith(m + "?") for m in MASKS),
        "true_first": completion == opt1,
        "well_formed": completion in (opt1, opt2)
        and (header or prompt.split("\n")[-3] == "")
        and any(context.removesuffix("?").endswith(" " + m) for m in MASKS),
    }


def fill_labelled(prompt: str) -> bool:
    """Whether a Fill Middle prompt (``L1 + A + "\\n" + L3 + C``) carries a label pair."""
    first, _, second = prompt.partition("\n")
    return any(first.startswith(a) and second.startswith(b) for a, b in FILL_LABELS)


def deletion_answer_is_intruder(prompt: str, completion: str) -> bool:
    """Whether a Deletion completion is the inserted sentence (vs the original passage).

    The prompt is the chunk with one sentence x inserted. If the completion is the chunk, the
    prompt's words are the completion's with one run inserted (common prefix + suffix cover it);
    otherwise the completion is x, found inside the prompt. When both readings fit (x inserted at
    an edge), the completion is the passage iff it is the longer of the two parts.
    """
    p, c = prompt.split(), completion.split()
    prefix = _common_run(p, c)
    suffix = _common_run(p[::-1], c[::-1])
    if prefix + suffix < len(c):
        return True
    return 2 * len(c) < len(p)


def _common_run(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the common prefix of two word lists."""
    n = min(len(a), len(b))
    return next((i for i in range(n) if a[i] != b[i]), n)


def instruction_first(prompt: str) -> bool:
    """Whether an ``instruction\\n\\nchunk`` prompt (Char Count, Token Type) starts with it.

    Chunks hold at least 20 words and no newline; instructions are one short sentence.
    """
    first, second = prompt.split("\n\n")
    return len(first.split()) < len(second.split())


def instruction_and_chunk(prompt: str) -> tuple[str, str]:
    """(instruction, chunk) of an instruction prompt, whichever the order."""
    first, second = prompt.split("\n\n")
    return (first, second) if instruction_first(prompt) else (second, first)


def token_type_counts(chunk: str, stop: frozenset[str]) -> dict[str, int]:
    """The four Token Type counts of a chunk, as the reference computes them."""
    words = chunk.split()
    return {
        "content": sum(1 for w in words if w.isalnum() and w.lower() not in stop),
        "stop": sum(1 for w in words if w.lower() in stop),
        "digit": sum(1 for c in chunk if c.isdigit()),
        "punct": sum(1 for c in chunk if c in PUNCTUATION),
    }


def token_type_kind(prompt: str, completion: str, stop: frozenset[str]) -> str:
    """Which count a Token Type completion is: a kind, ``"ambiguous"`` or ``"none"``."""
    counts = token_type_counts(instruction_and_chunk(prompt)[1], stop)
    kinds = [k for k in TOKEN_TYPE_KINDS if str(counts[k]) == completion]
    return kinds[0] if len(kinds) == 1 else ("ambiguous" if kinds else "none")


def anchor_of(text: str, prompt: str, completion: str) -> str:
    """The anchor that joins prompt and completion in ``text`` (TASKS.md §3.1)."""
    head, tail = prompt + "\n\n", completion
    if not (text.startswith(head) and text.endswith(tail)) or len(text) < len(head) + len(tail):
        raise ValueError("text is not prompt + '\\n\\n' + anchor + completion")
    middle = text[len(head) : len(text) - len(tail)]
    anchor = middle[:-1] if middle.endswith(" ") and not completion.startswith(" ") else middle
    if anchor not in ANCHORS:
        raise ValueError(f"unknown anchor {anchor!r}")
    return anchor


# ------------------------------------------------------------------------------------------ tests


def mean_var(xs: Sequence[float]) -> tuple[float, float]:
    """Sample mean and unbiased variance."""
    n = len(xs)
    mean = sum(xs) / n
    return mean, (sum((x - mean) ** 2 for x in xs) / (n - 1) if n > 1 else 0.0)


def z_means(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sample z statistic of the difference of means (Welch's standard error)."""
    (ma, va), (mb, vb) = mean_var(a), mean_var(b)
    se = math.sqrt(va / len(a) + vb / len(b))
    return (mb - ma) / se if se > 0 else (0.0 if ma == mb else math.inf)


def z_props(k1: int, n1: int, k2: int, n2: int) -> float:
    """Two-proportion z statistic with the pooled standard error."""
    p = (k1 + k2) / (n1 + n2)
    se = math.sqrt(p * (1 - p) * (1 / n1 + 1 / n2))
    diff = k2 / n2 - k1 / n1
    return diff / se if se > 0 else (0.0 if diff == 0 else math.inf)


def z_prop_vs(k: int, n: int, p0: float) -> float:
    """One-sample z statistic of a proportion against ``p0``."""
    return (k / n - p0) / math.sqrt(p0 * (1 - p0) / n)


def _gamma_q(a: float, x: float) -> float:
    """Regularized upper incomplete gamma Q(a, x) (series below a + 1, continued fraction above)."""
    if x <= 0:
        return 1.0
    log_front = -x + a * math.log(x) - math.lgamma(a)
    if x < a + 1:
        term = total = 1.0 / a
        ap = a
        for _ in range(10_000):
            ap += 1
            term *= x / ap
            total += term
            if abs(term) < abs(total) * 1e-15:
                break
        return max(0.0, 1.0 - total * math.exp(log_front))
    tiny = 1e-300
    b = x + 1 - a
    c, d = 1 / tiny, 1 / b
    h = d
    for i in range(1, 10_000):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1 / d
        h *= d * c
        if abs(d * c - 1) < 1e-15:
            break
    return math.exp(log_front) * h


def chi2_sf(x: float, df: int) -> float:
    """P(X >= x) for X ~ chi-square with ``df`` degrees of freedom."""
    return _gamma_q(df / 2, x / 2)


def chi2_homogeneity(a: Sequence[int], b: Sequence[int]) -> tuple[float, int, float]:
    """(statistic, df, p) of the chi-square test that two count vectors share one distribution.

    Categories empty in both samples are dropped.
    """
    cells = [(x, y) for x, y in zip(a, b, strict=True) if x + y > 0]
    na, nb = sum(x for x, _ in cells), sum(y for _, y in cells)
    n = na + nb
    stat = 0.0
    for x, y in cells:
        ea, eb = na * (x + y) / n, nb * (x + y) / n
        stat += (x - ea) ** 2 / ea + (y - eb) ** 2 / eb
    df = len(cells) - 1
    return stat, df, chi2_sf(stat, df)


def chi2_goodness(counts: Sequence[int], probs: Sequence[float]) -> tuple[float, int, float]:
    """(statistic, df, p) of the chi-square goodness-of-fit test of counts against probabilities."""
    n = sum(counts)
    stat = sum((k - n * p) ** 2 / (n * p) for k, p in zip(counts, probs, strict=True))
    df = len(counts) - 1
    return stat, df, chi2_sf(stat, df)


def ks_2samp(a: Iterable[float], b: Iterable[float], alpha: float = 0.001) -> tuple[float, float]:
    """(D, critical D at level ``alpha``) of the two-sample Kolmogorov-Smirnov test."""
    xa, xb = sorted(a), sorted(b)
    na, nb = len(xa), len(xb)
    i = j = 0
    d = 0.0
    while i < na and j < nb:
        x = min(xa[i], xb[j])
        while i < na and xa[i] == x:
            i += 1
        while j < nb and xb[j] == x:
            j += 1
        d = max(d, abs(i / na - j / nb))
    critical = math.sqrt(-math.log(alpha / 2) / 2) * math.sqrt((na + nb) / (na * nb))
    return d, critical
