"""Two-panel PNG figures for reports (matplotlib, headless), written atomically."""

from __future__ import annotations

from pathlib import Path

from .fileio import atomic_write_bytes


def two_panels(width: float = 12, height: float = 4.5):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(1, 2, figsize=(width, height))


def save_figure(fig, axes, path: Path) -> None:
    import io

    import matplotlib.pyplot as plt

    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    atomic_write_bytes(Path(path), buffer.getvalue())
