"""House rule: no function in firmware/ longer than 80 lines (its ``def`` line to its last line,
decorators, docstring and nested functions included)."""

import ast
import os

from conftest import ROOT

LIMIT = 80
FIRMWARE = os.path.join(ROOT, "firmware")


def function_lengths(root=FIRMWARE):
    """[(lines, "path:line name")] of every function and method under ``root``, longest first."""
    out = []
    for d, dirs, files in os.walk(root):
        dirs[:] = sorted(x for x in dirs if x != "__pycache__")
        for f in sorted(files):
            if not f.endswith(".py"):
                continue
            path = os.path.join(d, f)
            with open(path) as fh:
                tree = ast.parse(fh.read(), path)
            for node in ast.walk(tree):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    first = min([node.lineno] + [x.lineno for x in node.decorator_list])
                    out.append((node.end_lineno - first + 1, "%s:%d %s" % (os.path.relpath(path, ROOT),
                                                                          node.lineno, node.name)))
    return sorted(out, reverse=True)


def test_no_function_in_firmware_is_longer_than_80_lines():
    lengths = function_lengths()
    assert len(lengths) > 300, len(lengths)  # the walk found the firmware's functions
    print("longest: " + "; ".join("%s (%d lines)" % (where, n) for n, where in lengths[:5]))
    assert [x for x in lengths if x[0] > LIMIT] == []


if __name__ == "__main__":
    for n, where in function_lengths()[:15]:
        print("%4d %s" % (n, where))
