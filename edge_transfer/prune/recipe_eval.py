"""A recipe's ``eval(...)`` fields, checked before sparseml evaluates them: plain arithmetic on
numbers and recipe variables, with bounded powers (sparseml's evaluator allows ``**`` and
would compute ``9 ** 9 ** 9`` at 100% CPU for hours)."""

from __future__ import annotations

import ast

from ..errors import RecipeError

_EVAL_NODES = (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Constant, ast.Name, ast.Load, ast.Add, ast.Sub, ast.Mult,
               ast.Div, ast.FloorDiv, ast.Mod, ast.Pow, ast.USub, ast.UAdd)
MAX_EVAL_CHARS = 200
MAX_POWER = 64  # an exponent any recipe needs; sparseml's evaluator would compute 9 ** 9 ** 9 for hours


def check_expressions(value, label: str) -> None:
    """Refuse, before sparseml sees them, ``eval(...)`` fields that are more than arithmetic on
    numbers and recipe variables, or whose powers are unbounded."""
    if isinstance(value, dict):
        for item in value.values():
            check_expressions(item, label)
    elif isinstance(value, list):
        for item in value:
            check_expressions(item, label)
    elif isinstance(value, str) and value.strip().startswith("eval("):
        text = value.strip()[len("eval("):].rstrip()
        text = text[:-1] if text.endswith(")") else text
        problem = f"is longer than {MAX_EVAL_CHARS} characters" if len(text) > MAX_EVAL_CHARS else None
        try:
            tree = ast.parse(text, mode="eval") if problem is None else None
        except SyntaxError:
            problem = "is not an arithmetic expression"
        for node in ast.walk(tree) if tree is not None else ():
            if not isinstance(node, _EVAL_NODES) or (isinstance(node, ast.Constant) and
                                                    not isinstance(node.value, (int, float))):
                problem = f"uses {type(node).__name__}, not plain arithmetic"
            elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow) and not (
                    isinstance(node.right, ast.Constant) and isinstance(node.right.value, (int, float))
                    and abs(node.right.value) <= MAX_POWER and not isinstance(node.left, ast.BinOp)):
                problem = f"raises to a power that is not a literal of at most {MAX_POWER}"
        if problem:
            raise RecipeError(f"{label}: field {value!r} {problem}; eval(...) takes arithmetic on numbers and "
                              "recipe variables only")
