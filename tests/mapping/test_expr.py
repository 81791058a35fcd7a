"""The `${...}` expression language: integers only, a closed set of operators, bounded."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from surfaced.mapping.errors import ExprError
from surfaced.mapping.expr import Expr, Template, eval_int, eval_range


@pytest.mark.parametrize(("text", "value"), [
    ("104", 104), ("0x68 + strip", 107), ("strip * 7", 21), ("(strip + 1) * 2", 8),
    ("-strip", -3), ("17 // 5", 3), ("17 % 5", 2), ("-7 // 2", -4), ("2 - 3 - 4", -5),
    ("0x30 + strip", 0x33), ("strip*16+12", 60), ("- -1", 1),
])
def test_values(text: str, value: int) -> None:
    assert Expr.parse(text).eval({"strip": 3}) == value


@pytest.mark.parametrize(("text", "words"), [
    ("1 / 2", "use // for integer division"),
    ("a.b", "unexpected '.'"),
    ("__import__('os')", "unexpected"),
    ("1 +", "ends too early"),
    ("(1 + 2", "missing ')'"),
    ("1 2", "unexpected '2'"),
    ("", "empty expression"),
    ("2 ** 3", "unexpected '*'"),
    ("x", "unknown name 'x'"),
    ("1 // 0", "division by zero"),
    ("99999999999", "out of range"),
    ("65536 * 65536", "out of range"),
    ("(" * 40 + "1" + ")" * 40, "nested deeper"),
    ("1 + " * 100 + "1", "longer than"),
])
def test_errors_say_what_is_wrong(text: str, words: str) -> None:
    with pytest.raises(ExprError, match=words.replace("(", r"\(").replace(")", r"\)")
                       .replace("*", r"\*").replace(".", r"\.")):
        Expr.parse(text).eval({})


@given(st.text(max_size=60))
def test_any_text_parses_or_raises_expr_error(text: str) -> None:
    with contextlib.suppress(ExprError):
        Expr.parse(text).eval({"strip": 1})


def test_templates_render_and_fold() -> None:
    tpl = Template.parse("ch/${ch}/send/${b}")
    assert tpl.names() == {"ch", "b"}
    folded = tpl.partial({"b": 2})
    assert folded.parts == ("ch/", Expr.parse("ch"), "/send/2")
    assert folded.render({"ch": 9}) == "ch/9/send/2"
    assert Template.parse("/1/fader${strip + 1}").render({"strip": 0}) == "/1/fader1"
    with pytest.raises(ExprError, match="unclosed"):
        Template.parse("ch/${ch")


def test_integers_and_ranges() -> None:
    assert eval_int("${0x68 + strip}", {"strip": 2}) == 0x6A
    assert eval_int("0x2F", {}) == 47 and eval_int(7, {}) == 7
    with pytest.raises(ExprError):
        eval_int("ch ${x}", {"x": 1})
    with pytest.raises(ExprError):
        eval_int(True, {})
    assert eval_range("0..7", {}) == range(0, 8)
    assert eval_range("1..${strips}", {"strips": 4}) == range(1, 5)
    assert eval_range([2, 3], {}) == range(2, 4)
    assert eval_range(5, {}) == range(5, 6)
    with pytest.raises(ExprError, match="empty"):
        eval_range("3..1", {})
    with pytest.raises(ExprError, match="more than 1024"):
        eval_range("0..5000", {})
