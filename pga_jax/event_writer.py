"""TensorBoard event files without TensorFlow: a clu `MetricWriter` on the `tensorboard`
package's own event-file writer and protos.

clu's TensorBoard writer is TensorFlow's (`tf.summary`). This one writes the same kinds of
records (scalars as `simple_value`, images as PNG-encoded `Summary.Image`, texts and
hyper-parameters as text summaries) with `tensorboard.summary.writer.EventFileWriter`, so a run
writes events that `tensorboard --logdir` shows wherever `tensorboard` (a small, pure-Python
package) is installed, with or without TensorFlow.
"""

from __future__ import annotations

import io
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
from clu.metric_writers import interface
from PIL import Image
from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2, tensor_shape_pb2
from tensorboard.plugins.text import metadata as text_metadata
from tensorboard.summary.writer.event_file_writer import EventFileWriter


def _png(image: np.ndarray) -> summary_pb2.Summary.Image:
    """[H, W, C] uint8 (or floats in [0, 1], as tf.summary.image) as a PNG Summary.Image."""
    image = np.asarray(image)
    if image.dtype != np.uint8:
        image = (np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    h, w, c = image.shape
    buffer = io.BytesIO()
    Image.fromarray(image[..., 0] if c == 1 else image).save(buffer, format="PNG")
    return summary_pb2.Summary.Image(
        height=h, width=w, colorspace=c, encoded_image_string=buffer.getvalue()
    )


def _text(tag: str, value: str) -> summary_pb2.Summary.Value:
    tensor = tensor_pb2.TensorProto(
        dtype="DT_STRING",
        string_val=[value.encode()],
        tensor_shape=tensor_shape_pb2.TensorShapeProto(dim=[]),
    )
    meta = text_metadata.create_summary_metadata(display_name=tag, description="")
    return summary_pb2.Summary.Value(tag=tag, metadata=meta, tensor=tensor)


class EventFileMetricWriter(interface.MetricWriter):
    """Writes scalars, images, texts and hyper-parameters to TensorBoard event files in
    `logdir` (histograms, audio and video are not written)."""

    def __init__(self, logdir: str):
        self._writer = EventFileWriter(logdir)

    def _add(self, step: int, values: list[summary_pb2.Summary.Value]) -> None:
        event = event_pb2.Event(step=int(step), summary=summary_pb2.Summary(value=values))
        event.wall_time = time.time()
        self._writer.add_event(event)

    def write_summaries(self, step, values, metadata=None):
        del step, values, metadata  # raw tf.summary tensors: not produced here

    def write_scalars(self, step: int, scalars: Mapping[str, Any]):
        self._add(
            step,
            [summary_pb2.Summary.Value(tag=k, simple_value=float(v)) for k, v in scalars.items()],
        )

    def write_images(self, step: int, images: Mapping[str, np.ndarray]):
        values = []
        for key, batch in images.items():
            batch = np.asarray(batch)
            for i, image in enumerate(batch):
                tag = key if len(batch) == 1 else f"{key}/image/{i}"
                values.append(summary_pb2.Summary.Value(tag=tag, image=_png(image)))
        self._add(step, values)

    def write_videos(self, step, videos):
        del step, videos

    def write_audios(self, step, audios, *, sample_rate):
        del step, audios, sample_rate

    def write_texts(self, step: int, texts: Mapping[str, str]):
        self._add(step, [_text(k, str(v)) for k, v in texts.items()])

    def write_histograms(self, step, arrays, num_buckets=None):
        del step, arrays, num_buckets

    def write_hparams(self, hparams: Mapping[str, Any]):
        table = "\n".join(f"| {k} | {v} |" for k, v in sorted(hparams.items()))
        self.write_texts(0, {"hparams": "| name | value |\n|---|---|\n" + table})

    def flush(self):
        self._writer.flush()

    def close(self):
        self._writer.close()
