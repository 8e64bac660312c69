# /// script
# requires-python = ">=3.10"
# dependencies = [
#     "numpy>=1.24", "cuda-python>=13,<14", "cvcuda-cu13>=0.19", "matplotlib>=3.7",
#     "nvidia-nvimgcodec-cu13[nvjpeg,nvjpeg2k,nvtiff]>=0.9",
#     # and PyTorch with CUDA: pick the wheel for your driver on pytorch.org
# ]
# ///
# SPDX-License-Identifier: Apache-2.0
"""
JPEG files to a model-ready batch: nvImageCodec, CV-CUDA, PyTorch
=================================================================

What most image models want in front of them: each picture resized so that its
shorter side is 256 pixels, the centre 224x224 cut out, normalised with the
ImageNet mean and standard deviation, and the whole batch laid out as one NCHW
float16 tensor. Here a batch of JPEG files of different sizes goes in as bytes;
nvImageCodec decodes all of them in one call, two of CV-CUDA's variable-shape
batch operators resize, crop, normalise and lay them out, and PyTorch holds the
result. Every step runs on one stream; nothing is copied between the libraries.
A CPU reference, Pillow and numpy doing the same steps, checks the batch.

What to look at:

* ``decoder.decode(list_of_bytes, cuda_stream=...)``: one call for the batch,
  one image each, and ``None`` for an image it could not decode: check for it.
* ``cvcuda.as_images``: decoded images of different sizes, one
  ``ImageBatchVarShape``, no copy.
* ``cvcuda.hq_resize(..., antialias=True)``, not ``cvcuda.resize``: shrinking
  without a filter gives a different picture from Pillow's, DALI's and
  torchvision's.
* ``cvcuda.crop_flip_normalize_reformat_into``: a crop rectangle per image
  (x, y, width, height), a flip code per image (0 flips upside down; any value
  but -1, 0 and 1 keeps the image), and ``(pixel - base) * scale``.
* The batch is a torch tensor that CV-CUDA writes into: contiguous, ready for a
  model, no copy.

The benchmark beside the Performance page (``bench_pipeline.py``) measures this
pipeline against DALI, torchvision on the GPU and Pillow with worker processes.
"""

# %%
# Imports
# -------

# sphinx_gallery_start_ignore
try:  # preflight.py is standard library only: it runs before any import
    from preflight import require_gpu
except ImportError:  # downloaded alone: name the files it needs, exit 3
    import sys

    sys.stderr.write(
        "jpeg_batch_pipeline.py: cannot run: download preflight.py and "
        "sample_images.py with it, into the same folder (its zip download on the site "
        "holds them all)\n"
    )
    raise SystemExit(3) from None

# one line and exit status 3 when something is missing
require_gpu("cvcuda", "nvidia.nvimgcodec", "torch", "matplotlib")
# sphinx_gallery_end_ignore

# docs_tag: begin_imports
import io
from collections.abc import Sequence

import cvcuda
import numpy as np
import torch
from nvidia import nvimgcodec
from PIL import Image, ImageOps
from sample_images import photo

# docs_tag: end_imports

# %%
# The batch a model expects
# -------------------------
# The steps of torchvision's ImageNet evaluation transform, and the numbers
# they use. ``resized_size`` and ``crop_origin`` are shared by the GPU pipeline
# and the CPU reference, so both cut out the same pixels.

# docs_tag: begin_model_input
SHORTER_SIDE = 256  # resize so that the shorter side is this long ...
CROP = 224  # ... then cut out the centre CROP x CROP
MEAN = (0.485, 0.456, 0.406)  # ImageNet, per RGB channel, for pixels in 0..1
STD = (0.229, 0.224, 0.225)


def resized_size(height: int, width: int) -> tuple[int, int]:
    """(height, width) with the shorter side SHORTER_SIDE and the longer scaled
    alike, rounded down: torchvision's ``Resize(256)``."""
    if height <= width:
        return SHORTER_SIDE, SHORTER_SIDE * width // height
    return SHORTER_SIDE * height // width, SHORTER_SIDE


def crop_origin(length: int) -> int:
    """Where the centre crop starts along a side of ``length`` pixels: half the
    pixels left over, a half rounded up (DALI's ``crop_pos`` 0.5 does the same;
    torchvision's ``CenterCrop`` rounds a half to even)."""
    return (length - CROP + 1) // 2


# docs_tag: end_model_input

# %%
# JPEG files to work on
# ---------------------
# Nothing is downloaded: the files are cut from the photo the other samples
# use, at sizes like ImageNet's (about 500x375, landscape and portrait), with
# qualities from 70 to 95, most with the 4:2:0 chroma that cameras write.

# docs_tag: begin_make_jpegs
PHOTO_HEIGHT, PHOTO_WIDTH = 600, 512  # the sample photo


def make_jpegs(count: int, seed: int = 0) -> list[bytes]:
    """``count`` JPEG files as bytes, the same for the same ``seed``."""
    rng = np.random.default_rng(seed)
    source = Image.fromarray(photo())
    jpegs = []
    for i in range(count):
        long_side = int(rng.integers(400, 641))
        short_side = int(long_side * rng.uniform(0.56, 0.8))
        portrait = rng.random() < 0.3
        width, height = (short_side, long_side) if portrait else (long_side, short_side)
        # a box of the picture's shape, somewhere in the photo, scaled to size
        scale = min(PHOTO_WIDTH / width, PHOTO_HEIGHT / height) * rng.uniform(0.6, 1)
        left = rng.uniform(0, PHOTO_WIDTH - width * scale)
        top = rng.uniform(0, PHOTO_HEIGHT - height * scale)
        box = (left, top, left + width * scale, top + height * scale)
        picture = source.resize((width, height), Image.Resampling.BICUBIC, box=box)
        if rng.random() < 0.5:
            picture = ImageOps.mirror(picture)
        file = io.BytesIO()
        quality = int(rng.integers(70, 96))
        picture.save(file, "JPEG", quality=quality, subsampling=0 if i % 4 == 3 else 2)
        jpegs.append(file.getvalue())
    return jpegs


# docs_tag: end_make_jpegs
jpegs = make_jpegs(8)
lengths = [len(data) for data in jpegs]
print(f"{len(jpegs)} JPEG files of {min(lengths):,} to {max(lengths):,} bytes")

# %%
# Check the bytes before the GPU sees them
# ----------------------------------------
# A JPEG's frame header says how big the picture is and how many colour
# components it has. Reading it costs microseconds and catches what would
# otherwise go wrong later, or silently: a file that is not a JPEG, one cut
# short (its end-of-image marker is missing), a CMYK file (its colours depend on
# how the decoder guesses the ink), or one that claims no size at all.
# Greyscale files are fine: they decode to RGB with R = G = B, as Pillow's
# ``convert("RGB")`` makes them.

# docs_tag: begin_check_jpeg
#: Start-of-frame markers: baseline, extended, progressive, lossless, arithmetic.
FRAME_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def jpeg_shape(data: bytes, index: int) -> tuple[int, int, int]:
    """(height, width, colour components) of a whole JPEG file, or a ValueError
    that names image ``index`` of the batch and what is wrong with it."""
    if not isinstance(data, bytes):
        raise TypeError(f"image {index}: expected bytes, got {type(data).__name__}")
    if data[:3] != b"\xff\xd8\xff":
        raise ValueError(f"image {index}: not a JPEG file (starts {data[:8]!r})")
    at = 2
    while True:  # walk the segments up to the frame header
        if at + 4 > len(data):
            raise ValueError(f"image {index}: truncated JPEG (header cut short)")
        if data[at] != 0xFF:
            raise ValueError(f"image {index}: corrupt JPEG (no marker at byte {at})")
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte before a marker
            at += 1
            continue
        if marker in (0xD9, 0xDA):  # end of image, start of scan: no frame?
            raise ValueError(f"image {index}: corrupt JPEG (no frame header)")
        if marker in FRAME_MARKERS:
            break
        at += 2 + int.from_bytes(data[at + 2 : at + 4], "big")
    if at + 10 > len(data):
        raise ValueError(f"image {index}: truncated JPEG (frame header cut short)")
    height = int.from_bytes(data[at + 5 : at + 7], "big")
    width = int.from_bytes(data[at + 7 : at + 9], "big")
    components = data[at + 9]
    if data.rfind(b"\xff\xd9", at) < 0:  # searched from the end: quick when there
        raise ValueError(f"image {index}: truncated JPEG (no end-of-image marker)")
    if height == 0 or width == 0:
        raise ValueError(f"image {index}: JPEG of {width}x{height} pixels")
    if components == 4:
        raise ValueError(
            f"image {index}: CMYK or YCCK JPEG: convert it to RGB first "
            "(for example Pillow's Image.convert('RGB'))"
        )
    if components not in (1, 3):
        raise ValueError(f"image {index}: JPEG with {components} colour components")
    return height, width, components


# docs_tag: end_check_jpeg
shapes = [jpeg_shape(data, index) for index, data in enumerate(jpegs)]
print("width x height:", ", ".join(f"{w}x{h}" for h, w, _ in shapes))

# %%
# The pipeline, on one stream
# ---------------------------
# Three steps, each a method, all on ``stream``:
#
# 1. ``decode``: the host checks, then one nvImageCodec call for the batch. The
#    images name ``stream`` in their CUDA Array Interface.
# 2. ``resize``: ``cvcuda.as_images`` wraps the decoded images as one
#    variable-shape batch without a copy; ``hq_resize`` resizes each to its own
#    size. ``antialias=True`` filters over every source pixel when shrinking, as
#    Pillow's BILINEAR, DALI and torchvision do; ``cvcuda.resize`` with
#    ``Interp.LINEAR`` samples 2x2 pixels only, and its result is off from
#    theirs by about 0.1 in normalised units on average. Mind the order of each
#    size: ``hq_resize`` takes (height, width), ``resize`` (width, height).
# 3. ``crop_normalise``: ``crop_flip_normalize_reformat_into`` writes, for each
#    image, ``(pixel - base[c]) * scale[c]`` of its crop rectangle into the NCHW
#    output. Its arguments are CV-CUDA tensors: ``rect`` (N, 1, 1, 4) int32
#    "NHWC" of (x, y, width, height) in the resized image; ``flip_code`` (N,)
#    int32, where 0 flips upside down, 1 left to right, -1 both, and any other
#    value keeps the image (so zeros are *not* "no flip"); ``base`` and
#    ``scale`` (1, 1, 1, 3) float32 "NHWC", one value per channel. With pixels
#    in 0..255, ``base`` is 255 x mean and ``scale`` is 1 / (255 x std). (The
#    flag ``NormalizeFlags.SCALE_IS_STDDEV`` would take 255 x std instead.)
#
# torch allocates the output and CV-CUDA writes into it: the batch is a
# contiguous torch tensor, made without a copy. Small arguments go up the same
# way, by torch on ``stream``; ``OnStream`` tells CV-CUDA which stream wrote
# them, as the PyTorch sample teaches, so it waits for nothing else.

# docs_tag: begin_pipeline
KEEP = 2  # crop_flip_normalize_reformat's flip code for "do not flip"


class OnStream:
    """A torch tensor's CUDA Array Interface as version 3, naming the stream
    that wrote it (torch exports version 2, which names no stream)."""

    def __init__(self, tensor: torch.Tensor, stream: torch.cuda.Stream) -> None:
        self.tensor = tensor  # CV-CUDA keeps this wrapper, so the tensor, alive
        self.__cuda_array_interface__ = {
            **tensor.__cuda_array_interface__,
            "version": 3,
            "stream": stream.cuda_stream,
        }


class ToModelBatch:
    """JPEG files as bytes to a normalised (N, 3, 224, 224) float16 torch
    batch, every step on ``stream``, a non-default torch stream."""

    def __init__(self, stream: torch.cuda.Stream) -> None:
        self.stream = stream
        self.cv_stream = cvcuda.as_stream(stream)  # borrowed by CV-CUDA
        self.decoder = nvimgcodec.Decoder()
        channels = (1, 1, 1, 3)
        self.base = self.upload(255 * np.float32(MEAN).reshape(channels), "NHWC")
        self.scale = self.upload(1 / (255 * np.float32(STD).reshape(channels)), "NHWC")

    def upload(self, array: np.ndarray, layout: str) -> cvcuda.Tensor:
        """A small host array as a CV-CUDA tensor, copied up by torch on stream."""
        with torch.cuda.stream(self.stream):
            tensor = torch.from_numpy(array).to(self.stream.device, non_blocking=True)
        return cvcuda.as_tensor(OnStream(tensor, self.stream), layout)

    def decode(self, jpegs: Sequence[bytes]) -> list[nvimgcodec.Image]:
        if len(jpegs) == 0:
            raise ValueError("empty batch: no JPEG files to decode")
        for index, data in enumerate(jpegs):
            jpeg_shape(data, index)  # a clear error now, not a wrong batch later
        images = self.decoder.decode(list(jpegs), cuda_stream=self.stream.cuda_stream)
        failed = [index for index, image in enumerate(images) if image is None]
        if failed:  # nvImageCodec warns and gives None, it does not raise
            raise ValueError(f"nvImageCodec could not decode image(s) {failed}")
        return images

    def resize(
        self, images: list[nvimgcodec.Image], sizes: list[tuple[int, int]]
    ) -> cvcuda.ImageBatchVarShape:
        batch = cvcuda.as_images(images, cvcuda.Format.RGB8)  # zero-copy
        return cvcuda.hq_resize(
            batch,
            sizes,  # (height, width) each
            antialias=True,
            interpolation=cvcuda.Interp.LINEAR,
            stream=self.cv_stream,
        )

    def crop_normalise(
        self, resized: cvcuda.ImageBatchVarShape, sizes: list[tuple[int, int]]
    ) -> torch.Tensor:
        rects = [(crop_origin(w), crop_origin(h), CROP, CROP) for h, w in sizes]
        rect = self.upload(np.int32(rects).reshape(-1, 1, 1, 4), "NHWC")
        flip_code = self.upload(np.full(len(sizes), KEEP, np.int32), "N")
        shape, device = (len(sizes), 3, CROP, CROP), self.stream.device
        with torch.cuda.stream(self.stream):  # memory for use on the stream
            out = torch.empty(shape, dtype=torch.float16, device=device)
        cvcuda.crop_flip_normalize_reformat_into(
            cvcuda.as_tensor(OnStream(out, self.stream), "NCHW"),
            resized,
            rect,
            flip_code,
            self.base,
            self.scale,
            stream=self.cv_stream,
        )
        return out

    def __call__(self, jpegs: Sequence[bytes]) -> torch.Tensor:
        images = self.decode(jpegs)
        sizes = [resized_size(*image.shape[:2]) for image in images]
        return self.crop_normalise(self.resize(images, sizes), sizes)


# docs_tag: end_pipeline

# %%
# Run it
# ------
# torch's current stream becomes ``stream``, so the torch work that follows
# (here the copy home for the check) is ordered after the pipeline's.

# docs_tag: begin_run
stream = torch.cuda.Stream()  # torch owns it; not the default stream
torch.cuda.set_stream(stream)
to_model_batch = ToModelBatch(stream)

batch = to_model_batch(jpegs)
assert batch.shape == (len(jpegs), 3, CROP, CROP) and batch.dtype == torch.float16
assert batch.is_contiguous()  # NCHW, as a model takes it
# docs_tag: end_run
print(f"batch: {tuple(batch.shape)} {batch.dtype}, contiguous, on {batch.device}")

# %%
# Check against the CPU
# ---------------------
# The reference does the same steps with Pillow and numpy: decode, resize with
# ``BILINEAR`` (which, like ``hq_resize`` with ``antialias``, weighs every
# source pixel under a triangle as wide as the scale), crop, normalise.
#
# How close they can be, step by step, in grey levels (one is 1 / (255 x std),
# about 0.0175 in normalised units):
#
# * decode: nvJPEG (or the GPU's hardware decoder) and libjpeg-turbo round the
#   inverse DCT, the chroma upsampling and the colour conversion differently:
#   one image came within 1 level of Pillow's, a batch of 8 within 3 (mean
#   0.02), in the decode benchmark of the Performance page;
# * resize: the same filter, but Pillow rounds to 8 bits between its horizontal
#   and vertical pass and uses fixed-point weights: about 1 level more;
# * crop: the same integer rectangle: exact;
# * normalise: float32, then float16 on both sides: at most one float16 step
#   (0.002 below 4).
#
# So each value is expected within about 5 levels (0.09), the batch within
# half a level on average. The tolerance allows 0.15 (about 8 levels) for any
# value and 0.02 (about 1 level) on average, and stays well below a wrong step
# (resizing without antialiasing: about 0.1 on average; a wrong flip code:
# about 1).

# docs_tag: begin_reference
TOLERANCE_MAX = 0.15  # normalised units, for any value
TOLERANCE_MEAN = 0.02  # normalised units, for the mean over the batch


def reference_pixels(data: bytes) -> np.ndarray:
    """Pillow's decode, resize and centre crop of one JPEG: (224, 224, 3) uint8.
    Like nvImageCodec, it turns the picture as its EXIF orientation says."""
    with Image.open(io.BytesIO(data)) as opened:
        picture = ImageOps.exif_transpose(opened).convert("RGB")
    height, width = resized_size(picture.height, picture.width)
    picture = picture.resize((width, height), Image.Resampling.BILINEAR)
    top, left = crop_origin(height), crop_origin(width)
    return np.asarray(picture)[top : top + CROP, left : left + CROP]


def normalise(pixels: np.ndarray) -> np.ndarray:
    """(..., 224, 224, 3) uint8 to (..., 3, 224, 224) float16, ImageNet's way."""
    mean, std = 255 * np.float32(MEAN), 255 * np.float32(STD)
    return np.moveaxis((pixels - mean) / std, -1, -3).astype(np.float16)


def grey_levels(values: np.ndarray) -> np.ndarray:
    """Normalisation undone: (..., 3, 224, 224) to (..., 224, 224, 3) float32
    in grey levels, 0..255."""
    mean, std = 255 * np.float32(MEAN), 255 * np.float32(STD)
    return np.moveaxis(np.float32(values), -3, -1) * std + mean


def reference_batch(jpegs: Sequence[bytes]) -> np.ndarray:
    """The CPU reference of a whole batch, with the pipeline's checks."""
    if len(jpegs) == 0:
        raise ValueError("empty batch: no JPEG files to decode")
    for index, data in enumerate(jpegs):
        jpeg_shape(data, index)
    return normalise(np.stack([reference_pixels(data) for data in jpegs]))


reference = reference_batch(jpegs)
difference = np.abs(batch.cpu().numpy().astype(np.float32) - reference)
assert difference.max() <= TOLERANCE_MAX and difference.mean() <= TOLERANCE_MEAN
# docs_tag: end_reference
print(
    f"against the CPU reference: max |difference| {difference.max():.3f} "
    f"(tolerance {TOLERANCE_MAX}), mean {difference.mean():.4f} "
    f"(tolerance {TOLERANCE_MEAN}): verified"
)

# %%
# Bad input
# ---------
# A file cut short, bytes that are not a JPEG, a CMYK file and an empty batch
# are refused before anything runs on the GPU, each with a ValueError that
# names the image. A file that passes the checks but that nvImageCodec cannot
# decode gets a ValueError too, from the ``None`` check. A greyscale file is a
# result, not an error: R = G = B before normalisation.


# docs_tag: begin_bad_input
def jpeg_file(picture: Image.Image) -> bytes:
    file = io.BytesIO()
    picture.save(file, "JPEG", quality=90)
    return file.getvalue()


truncated = jpegs[1][: len(jpegs[1]) // 2]
cmyk = jpeg_file(Image.fromarray(photo()).convert("CMYK"))
for name, bad_batch in (
    ("truncated", [jpegs[0], truncated]),
    ("not a JPEG", [jpegs[0], b"GIF89a" + bytes(100)]),
    ("CMYK", [jpegs[0], cmyk]),
    ("empty", []),
):
    try:
        to_model_batch(bad_batch)
    except ValueError as error:
        print(f"{name}: ValueError: {error}")
    else:
        raise AssertionError(f"a batch with a {name} file was accepted")

grey_jpeg = jpeg_file(Image.fromarray(photo()).convert("L"))
grey = to_model_batch([grey_jpeg]).cpu().numpy()
levels = grey_levels(grey)
assert np.abs(levels - levels[..., :1]).max() < 1  # R = G = B, within float16's step
grey_difference = np.abs(np.float32(grey) - reference_batch([grey_jpeg]))
assert grey_difference.max() <= TOLERANCE_MAX
# docs_tag: end_bad_input
print(f"greyscale: R = G = B, within {grey_difference.max():.3f} of the reference")

# %%
# The picture
# -----------
# The batch as a model receives it, normalisation undone, and how far each
# pixel is from the CPU reference (the largest of its three channels): black is
# equal, white would be the tolerance.


def mosaic(images: np.ndarray, columns: int = 4) -> np.ndarray:
    """(N, H, W, ...) images in rows of ``columns``, as one array."""
    starts = range(0, len(images), columns)
    return np.concatenate([np.hstack(images[i : i + columns]) for i in starts])


pixels = np.clip(grey_levels(batch.cpu().numpy()).round(), 0, 255).astype(np.uint8)
at_tolerance = difference.max(axis=1) / TOLERANCE_MAX  # 1 where a value is at it
heat = np.uint8(np.clip(at_tolerance, 0, 1) * 255)

from sample_images import show_side_by_side

show_side_by_side(
    mosaic(pixels),
    mosaic(heat),
    titles=(
        f"The batch, {len(jpegs)} x 3 x 224 x 224",
        "|GPU - CPU|, white: tolerance",
    ),
)

# %%
# Clean up
# --------
# nvImageCodec frees the decoded images in the order of the stream they were
# decoded on, and torch keeps its stream: drop the objects, let the stream
# finish, and give torch its default stream back.

# docs_tag: begin_clean_up
del batch, to_model_batch
stream.synchronize()
cvcuda.clear_cache()
torch.cuda.set_stream(torch.cuda.default_stream())
# docs_tag: end_clean_up
