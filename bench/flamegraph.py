"""A plain SVG flamegraph from collapsed stacks (py-spy's raw format), so a profile needs no other tool:
root at the bottom, width by sample count, each frame's name and share in its tooltip."""

from __future__ import annotations

import zlib
from collections import Counter
from html import escape
from pathlib import Path

WIDTH = 1600
ROW = 16
MIN_PX = 0.3  # frames narrower than this are left out (their samples still count in the parent's width)


class _Node:
    __slots__ = ("children", "count")

    def __init__(self) -> None:
        self.count = 0
        self.children: dict[str, _Node] = {}


def _tree(stacks: Counter[tuple[str, ...]]) -> _Node:
    root = _Node()
    for stack, count in stacks.items():
        node = root
        node.count += count
        for frame in stack:
            node = node.children.setdefault(frame, _Node())
            node.count += count
    return root


def _colour(frame: str) -> str:
    h = zlib.crc32(frame.split(" (")[0].encode())
    if frame.startswith(("process ", "thread (")):
        return "rgb(190,190,210)"
    return f"rgb({205 + h % 50},{80 + (h >> 8) % 120},{40 + (h >> 16) % 50})"


def write_svg(stacks: Counter[tuple[str, ...]], path: Path, title: str) -> None:
    root = _tree(stacks)
    total = max(root.count, 1)
    scale = WIDTH / total
    boxes: list[tuple[str, float, float, int, float]] = []  # frame, share, x, depth, width

    def walk(node: _Node, x: float, depth: int) -> None:
        for frame, child in sorted(node.children.items()):
            w = child.count * scale
            if w >= MIN_PX:
                boxes.append((frame, child.count / total, x, depth, w))
                walk(child, x, depth + 1)
            x += w

    walk(root, 0.0, 0)
    height = (max((b[3] for b in boxes), default=0) + 1) * ROW + 30
    body = "".join(_box(*box, y=height - (box[3] + 1) * ROW) for box in boxes)
    path.write_text(
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" font-family="monospace" '
        f'font-size="11"><rect width="100%" height="100%" fill="#fafafa"/>'
        f'<text x="4" y="14" font-size="13">{escape(title)} ({root.count} samples)</text>{body}</svg>\n'
    )


def _box(frame: str, share: float, x: float, depth: int, w: float, y: int) -> str:
    label = escape(frame[: int(w / 6.7)]) if w > 20 else ""
    return (
        f"<g><title>{escape(f'{frame}: {share:.2%}')}</title>"
        f'<rect x="{x:.2f}" y="{y}" width="{w:.2f}" height="{ROW - 1}" fill="{_colour(frame)}"/>'
        f'<text x="{x + 2:.2f}" y="{y + 12}">{label}</text></g>'
    )
