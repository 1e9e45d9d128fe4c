"""Where a field is in a YAML text: digest errors and preflight findings name the line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from newsletter.errors import DigestError

# libyaml's parser when PyYAML was built with it: the same documents, 20 times faster than pure Python.
try:
    from yaml import CSafeLoader as SafeLoader
except ImportError:  # pragma: no cover - PyYAML without libyaml
    from yaml import SafeLoader  # type: ignore[assignment]

Loc = tuple[int | str, ...]
"""A field path into the digest, as pydantic reports it: ("sections", 2, "items", 0, "url")."""


def yaml_node_line(root: yaml.Node | None, loc: Loc) -> int | None:
    """Line (1-based) of the node at ``loc`` in a composed YAML tree, or of its nearest existing parent."""
    node = root
    line = node.start_mark.line + 1 if node is not None else None
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            match = next((v for k, v in node.value if getattr(k, "value", None) == key), None)
            if match is None:
                break
            node = match
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
        else:
            break
        line = node.start_mark.line + 1
    return line


def read_yaml(text: str, path: Path, *, offset: int = 0, what: str = "") -> tuple[Any, yaml.Node | None]:
    """The data and the node tree of a YAML text that starts ``offset`` lines into ``path``.

    A syntax error is a DigestError naming the file and line (``what`` says which part, e.g. the front
    matter of a Markdown digest).
    """
    loader = SafeLoader(text)
    try:  # one parse: the node tree (for line numbers), then the data built from it
        root = loader.get_single_node()
        return (loader.construct_document(root) if root is not None else None), root
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1 + offset}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise DigestError(f"{path}: {where}not valid YAML{what}: {problem}") from None
    finally:
        loader.dispose()
