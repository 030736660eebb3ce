"""Tests for blog.uploads: checking, cleaning and storing uploaded images."""

from __future__ import annotations

import io
import pathlib
import struct
import time
import tracemalloc
import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import ExifTags, Image, ImageCms, PngImagePlugin

from blog import uploads
from blog.uploads import (
    CONTENT_TYPES,
    StoredImage,
    UploadError,
    UploadLimits,
    delete_image_files,
    safe_media_path,
    store_image,
)

TOKEN = "0123456789abcdef0123456789abcdef"


# --- helpers -------------------------------------------------------------------


def encode(image: Image.Image, fmt: str, **params) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def store(data: bytes, folder: pathlib.Path, name: str = "upload", **limits) -> StoredImage:
    return store_image(io.BytesIO(data), name, folder, UploadLimits(**limits))


def files_in(folder: pathlib.Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def all_paths(folder: pathlib.Path, stored: StoredImage) -> list[pathlib.Path]:
    return [folder / stored.filename] + [folder / v["filename"] for v in stored.variants]


def gradient(size: tuple[int, int], mode: str = "RGB") -> Image.Image:
    """A picture with some detail, so encoders have real work to do."""
    down = Image.linear_gradient("L").resize(size)
    across = Image.linear_gradient("L").transpose(Image.Transpose.ROTATE_90).resize(size)
    return Image.merge("RGB", (down, across, Image.new("L", size, 128))).convert(mode)


def animated_gif(size=(600, 300), frames=3) -> bytes:
    pictures = [Image.new("RGBA", size, (80 * i, 40, 200, 255)) for i in range(frames)]
    pictures[0].paste((0, 0, 0, 0), (0, 0, 50, 50))  # a transparent corner
    return encode(
        pictures[0], "GIF", save_all=True, append_images=pictures[1:], duration=70, loop=0
    )


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_header_only(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims the given size; its pixels are never there."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", zlib.compress(b"\0" * 16))
        + png_chunk(b"IEND", b"")
    )


def gif_header_only(width: int, height: int) -> bytes:
    screen = struct.pack("<HHBBB", width, height, 0, 0, 0)
    frame = b"," + struct.pack("<HHHHB", 0, 0, width, height, 0)
    return b"GIF89a" + screen + frame + b"\x02\x02\x4c\x01\x00;"


def spy_exif(orientation: int | None = None) -> Image.Exif:
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "SpyCam"
    if orientation:
        exif[ExifTags.Base.Orientation] = orientation
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (52.0, 22.0, 7.5)
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = (4.0, 53.0, 1.25)
    return exif


def assert_no_metadata(path: pathlib.Path) -> None:
    raw = path.read_bytes()
    for marker in (b"Exif", b"SpyCam", b"secret", b"xmpmeta", b"adobe:ns:meta"):
        assert marker not in raw, f"{marker!r} left in {path.name}"
    with Image.open(path) as image:
        assert not image.getexif()
        assert not image.getexif().get_ifd(ExifTags.IFD.GPSInfo)
        for key in ("exif", "xmp", "XML:com.adobe.xmp", "comment", "Comment"):
            assert key not in image.info
        assert not getattr(image, "text", {})


def close_to(pixel, expected, tolerance=40) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, expected, strict=False))


# --- storing good images -------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "mode", "content_type", "variant_format"),
    [
        ("JPEG", "RGB", "image/jpeg", "JPEG"),
        ("PNG", "RGBA", "image/png", "PNG"),
        ("WEBP", "RGBA", "image/webp", "WEBP"),
        ("GIF", "P", "image/gif", "PNG"),
    ],
)
def test_good_images_are_stored_with_variants(tmp_path, fmt, mode, content_type, variant_format):
    image = gradient((1700, 900), mode)
    folder = tmp_path / "media" / "2024"  # created on demand
    stored = store(encode(image, fmt), folder, f"Holiday photo.{fmt.lower()}")

    assert stored.content_type == content_type
    assert CONTENT_TYPES[pathlib.Path(stored.filename).suffix] == content_type
    assert (stored.width, stored.height) == (1700, 900)
    assert stored.original_name == f"Holiday photo.{fmt.lower()}"
    assert uploads.STORED_NAME.fullmatch(stored.filename)
    with Image.open(folder / stored.filename) as main:
        assert main.format == fmt
        assert main.size == (1700, 900)
    assert stored.size_bytes == (folder / stored.filename).stat().st_size

    assert [v["width"] for v in stored.variants] == [480, 960, 1600]
    for variant in stored.variants:
        path = folder / variant["filename"]
        assert uploads.STORED_NAME.fullmatch(variant["filename"])
        assert variant["height"] == round(900 * variant["width"] / 1700)
        assert variant["size_bytes"] == path.stat().st_size
        with Image.open(path) as small:
            assert small.format == variant_format
            assert small.size == (variant["width"], variant["height"])
    # Nothing else, in particular no temporary files.
    assert files_in(folder) == sorted(p.name for p in all_paths(folder, stored))


def test_names_are_random_and_variants_only_shrink(tmp_path):
    data = encode(gradient((700, 300)), "PNG")
    first, second = store(data, tmp_path), store(data, tmp_path)
    assert first.filename != second.filename
    assert [v["width"] for v in first.variants] == [480]  # 960 and 1600 would enlarge
    tiny = store(encode(gradient((480, 100)), "PNG"), tmp_path)
    assert tiny.variants == []


def test_custom_widths(tmp_path):
    stored = store(encode(gradient((500, 500)), "JPEG"), tmp_path, widths=(300, 100, 300))
    assert [(v["width"], v["height"]) for v in stored.variants] == [(100, 100), (300, 300)]


@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
def test_transparency_is_kept(tmp_path, fmt):
    image = gradient((1000, 500), "RGBA")
    image.paste((0, 0, 0, 0), (0, 0, 200, 200))
    stored = store(encode(image, fmt), tmp_path)
    for path in all_paths(tmp_path, stored):
        with Image.open(path) as out:
            rgba = out.convert("RGBA")
            assert rgba.getpixel((5, 5))[3] == 0, path.name
            assert rgba.getpixel((rgba.width - 5, rgba.height - 5))[3] == 255


def test_palette_png_keeps_palette_and_transparency(tmp_path):
    image = gradient((1000, 400)).convert("P")
    image.paste(0, (0, 0, 100, 100))
    stored = store(encode(image, "PNG", transparency=0), tmp_path)
    with Image.open(tmp_path / stored.filename) as main:
        assert main.mode == "P"
        assert main.convert("RGBA").getpixel((1, 1))[3] == 0
    with Image.open(tmp_path / stored.variants[0]["filename"]) as small:
        assert small.mode == "RGBA"
        assert small.getpixel((1, 1))[3] == 0


def test_animated_gif_stays_animated_with_still_png_variants(tmp_path):
    stored = store(animated_gif(), tmp_path, "cat.gif")
    assert stored.content_type == "image/gif"
    with Image.open(tmp_path / stored.filename) as main:
        assert main.n_frames == 3
        assert main.info.get("loop") == 0
        assert main.info.get("duration") == 70
        assert main.convert("RGBA").getpixel((2, 2))[3] == 0
    [variant] = stored.variants
    assert variant["filename"].endswith(".png")
    with Image.open(tmp_path / variant["filename"]) as small:
        assert getattr(small, "n_frames", 1) == 1
        assert small.size == (480, 240)
        assert small.getpixel((2, 2))[3] == 0


def test_animated_webp_stays_animated(tmp_path):
    frames = [Image.new("RGB", (500, 200), (60 * i, 0, 0)) for i in range(3)]
    data = encode(frames[0], "WEBP", save_all=True, append_images=frames[1:], duration=50)
    stored = store(data, tmp_path)
    with Image.open(tmp_path / stored.filename) as main:
        assert main.n_frames == 3
    with Image.open(tmp_path / stored.variants[0]["filename"]) as small:
        assert getattr(small, "n_frames", 1) == 1


def test_cmyk_jpeg_becomes_rgb_and_loses_its_cmyk_profile(tmp_path):
    fake_cmyk_profile = bytes(16) + b"CMYK" + bytes(108)
    image = Image.new("CMYK", (600, 300), (0, 255, 255, 0))  # red in CMYK
    stored = store(encode(image, "JPEG", icc_profile=fake_cmyk_profile), tmp_path)
    for path in all_paths(tmp_path, stored):
        with Image.open(path) as out:
            assert out.mode == "RGB"
            assert "icc_profile" not in out.info
            assert close_to(out.getpixel((10, 10)), (255, 0, 0))


def test_rgb_icc_profile_is_kept(tmp_path):
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    stored = store(encode(gradient((600, 300)), "JPEG", icc_profile=srgb), tmp_path)
    for path in all_paths(tmp_path, stored):
        with Image.open(path) as out:
            assert out.info.get("icc_profile") == srgb


def test_grey_and_16_bit_images(tmp_path):
    grey = store(encode(Image.new("L", (600, 100), 90), "JPEG"), tmp_path)
    with Image.open(tmp_path / grey.variants[0]["filename"]) as small:
        assert small.mode == "L"
    deep = store(encode(Image.new("I;16", (600, 100), 65535), "PNG"), tmp_path)
    with Image.open(tmp_path / deep.variants[0]["filename"]) as small:
        assert small.mode == "L"
        assert small.getpixel((10, 10)) == 255  # scaled, not clipped or wrapped


def test_transparent_images_are_flattened_on_white_for_jpeg():
    image = Image.new("P", (10, 10), 0)
    image.putpalette([0, 0, 0, 255, 0, 0])
    image.info["transparency"] = 0
    image.paste(1, (5, 0, 10, 10))
    out = uploads._for_format(image, "JPEG")
    assert out.mode == "RGB"
    assert out.getpixel((1, 1)) == (255, 255, 255)
    assert out.getpixel((8, 1)) == (255, 0, 0)


@pytest.mark.parametrize(
    ("given_name", "shown"),
    [
        ("../../etc/pass\x00wd.jpg", "passwd.jpg"),
        ("C:\\Users\\me\\My   photo.png", "My photo.png"),
        ("", "image"),
        ("..", "image"),
        ("café.jpg", "café.jpg"),
    ],
)
def test_original_name_is_only_a_clean_display_name(tmp_path, given_name, shown):
    stored = store(encode(gradient((20, 20)), "PNG"), tmp_path, given_name)
    assert stored.original_name == shown


# --- metadata and orientation --------------------------------------------------


def test_jpeg_exif_gps_is_stripped_and_orientation_applied(tmp_path):
    image = Image.new("RGB", (2000, 1000), "red")
    image.paste((0, 0, 255), (1000, 0, 2000, 1000))  # right half blue
    data = encode(
        image,
        "JPEG",
        exif=spy_exif(orientation=6),
        xmp=b'<x:xmpmeta xmlns:x="adobe:ns:meta/">secret</x:xmpmeta>',
        comment=b"secret comment",
    )
    with Image.open(io.BytesIO(data)) as check:  # the test input really has it all
        assert check.getexif().get_ifd(ExifTags.IFD.GPSInfo)
        assert "xmp" in check.info and "comment" in check.info

    stored = store(data, tmp_path)

    # Orientation 6 means "turn 90° clockwise to view": the left (red) edge goes on top.
    assert (stored.width, stored.height) == (1000, 2000)
    assert [(v["width"], v["height"]) for v in stored.variants] == [(480, 960), (960, 1920)]
    for path in all_paths(tmp_path, stored):
        assert_no_metadata(path)
        with Image.open(path) as out:
            assert out.height == 2 * out.width
            assert close_to(out.getpixel((out.width // 2, out.height // 10)), (255, 0, 0))
            assert close_to(out.getpixel((out.width // 2, out.height * 9 // 10)), (0, 0, 255))


def test_png_text_exif_and_xmp_are_stripped(tmp_path):
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "secret comment")
    info.add_itxt("XML:com.adobe.xmp", '<x:xmpmeta xmlns:x="adobe:ns:meta/">secret</x:xmpmeta>')
    data = encode(gradient((1000, 500)), "PNG", pnginfo=info, exif=spy_exif(orientation=8))
    stored = store(data, tmp_path)
    assert (stored.width, stored.height) == (500, 1000)  # orientation 8 applied too
    for path in all_paths(tmp_path, stored):
        assert_no_metadata(path)


def test_webp_exif_and_xmp_are_stripped(tmp_path):
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/">secret</x:xmpmeta>'
    data = encode(gradient((1000, 500)), "WEBP", exif=spy_exif(), xmp=xmp)
    stored = store(data, tmp_path)
    for path in all_paths(tmp_path, stored):
        assert_no_metadata(path)


def test_gif_comment_is_stripped(tmp_path):
    data = encode(gradient((600, 300)).convert("P"), "GIF", comment=b"secret comment")
    stored = store(data, tmp_path)
    for path in all_paths(tmp_path, stored):
        assert_no_metadata(path)


# --- refusals --------------------------------------------------------------------


def assert_refused(folder: pathlib.Path, data: bytes, name: str, message: str, **limits):
    with pytest.raises(UploadError) as caught:
        store(data, folder, name, **limits)
    assert str(caught.value) == message
    assert files_in(folder) == []
    return caught.value


def test_text_file_named_jpg_is_refused(tmp_path):
    assert isinstance(UploadError("x"), ValueError)
    assert_refused(
        tmp_path / "media",
        b"Dear diary,\n" * 100,
        "photo.jpg",
        "This file is not an image we can use (JPEG, PNG, WebP or GIF).",
    )


@pytest.mark.parametrize("fmt", ["BMP", "TIFF", "ICO"])
def test_other_image_formats_are_refused(tmp_path, fmt):
    data = encode(Image.new("RGB", (32, 32), "red"), fmt)
    assert_refused(tmp_path, data, "photo.png", uploads.NOT_AN_IMAGE)


def test_empty_file_is_refused(tmp_path):
    assert_refused(tmp_path, b"", "a.png", "The file is empty.")


SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (SVG, "drawing.svg"),
        (SVG, "innocent.png"),
        (b'<?xml version="1.0"?>\n' + SVG, "innocent.jpg"),
        (b"\xef\xbb\xbf  \n<!DOCTYPE svg>" + SVG, "innocent"),
        (encode(gradient((20, 20)), "PNG"), "Logo.SVG"),
        (b"\x1f\x8b\x08\x00compressed", "drawing.svgz"),
    ],
)
def test_svg_is_refused(tmp_path, data, name):
    assert_refused(
        tmp_path, data, name, "SVG images are not accepted because they can carry scripts."
    )


class EndlessStream:
    """A non-seekable upload that never ends, counting what was read."""

    def __init__(self) -> None:
        self.bytes_read = 0

    def seekable(self) -> bool:
        return False

    def read(self, size: int = -1) -> bytes:
        assert size is not None and size >= 0, "tried to read the whole stream"
        self.bytes_read += size
        return b"\xff" * size


def test_oversize_stream_is_refused_without_reading_it_all(tmp_path):
    stream = EndlessStream()
    with pytest.raises(UploadError, match=r"^The image is larger than the 1 MB limit\.$"):
        store_image(stream, "big.jpg", tmp_path, UploadLimits(max_bytes=1024 * 1024))
    assert stream.bytes_read == 1024 * 1024 + 1
    assert files_in(tmp_path) == []


def test_oversize_file_is_refused_by_its_size_alone(tmp_path):
    big = tmp_path / "big.upload"
    with open(big, "wb") as fh:
        fh.truncate(40_000_000)  # sparse: costs no disk or time
    folder = tmp_path / "media"
    with open(big, "rb") as fh:
        with pytest.raises(UploadError) as caught:
            store_image(fh, "big.jpg", folder)
        assert fh.tell() == 0
    assert str(caught.value) == "The image is too large: 38.1 MB (limit 10 MB)."
    assert not folder.exists()


def test_file_at_the_size_limit_is_accepted(tmp_path):
    data = encode(gradient((30, 30)), "PNG")
    assert store(data, tmp_path, max_bytes=len(data)).size_bytes > 0
    with pytest.raises(UploadError, match="too large"):
        store(data, tmp_path / "other", max_bytes=len(data) - 1)


@pytest.mark.parametrize(
    "data",
    [png_header_only(20000, 20000), gif_header_only(65535, 65535)],
    ids=["png-20000x20000", "gif-65535x65535"],
)
def test_decompression_bomb_is_refused_quickly_without_allocating(tmp_path, data):
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(UploadError, match="the limit is 40 megapixels"):
            store(data, tmp_path, "bomb.png")
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert elapsed < 1.0
    assert peak < 5 * 1024 * 1024  # the pixels would need over a gigabyte
    assert files_in(tmp_path) == []


def test_pixel_limit_reports_the_size(tmp_path):
    assert_refused(
        tmp_path,
        png_header_only(7000, 7000),  # under Pillow's own limit, over ours
        "big.png",
        "The image is 7000 × 7000 pixels; the limit is 40 megapixels.",
    )
    assert_refused(
        tmp_path,
        encode(gradient((200, 100)), "JPEG"),
        "a.jpg",
        "The image is 200 × 100 pixels; the limit is 0.01 megapixels.",
        max_pixels=10_000,
    )


def test_animation_pixels_count_every_frame(tmp_path):
    data = animated_gif(size=(100, 100), frames=3)
    with pytest.raises(UploadError, match=r"^The animation is too long: 3 frames of 100 × 100"):
        store(data, tmp_path, "a.gif", max_pixels=25_000)
    assert files_in(tmp_path) == []
    assert store(data, tmp_path, "a.gif", max_pixels=30_000).width == 100


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "GIF"])
def test_truncated_image_is_refused(tmp_path, fmt):
    image = gradient((800, 600))
    data = encode(image.convert("P") if fmt == "GIF" else image, fmt)
    assert_refused(
        tmp_path,
        data[: len(data) // 2],
        "cut." + fmt.lower(),
        "This image file is damaged or incomplete. Try exporting it again.",
    )


# --- paths and deleting --------------------------------------------------------

BAD_NAMES = [
    "../x",
    "..",
    ".",
    "",
    "/etc/passwd",
    f"/{TOKEN}.jpg",
    f"../{TOKEN}.jpg",
    f"sub/{TOKEN}.jpg",
    f"..\\{TOKEN}.jpg",
    f"{TOKEN}.jpg\x00.png",
    f"{TOKEN}.jpg\n",
    f"{TOKEN}.php",
    f"{TOKEN.upper()}.jpg",
    f".{TOKEN}.jpg.tmp",
    "photo.jpg",
    "%2e%2e%2fpasswd",
    "C:\\Windows\\win.ini",
]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_safe_media_path_refuses_traversal_and_foreign_names(tmp_path, name):
    with pytest.raises(UploadError):
        safe_media_path(tmp_path, name)


def test_safe_media_path_accepts_stored_names(tmp_path):
    for name in (f"{TOKEN}.jpg", f"{TOKEN}-480.webp", f"{TOKEN}.gif", f"{TOKEN}-1600.png"):
        assert safe_media_path(tmp_path, name) == tmp_path.resolve() / name


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.text())
def test_safe_media_path_never_leaves_the_folder(tmp_path, name):
    try:
        path = safe_media_path(tmp_path, name)
    except ValueError:
        return
    assert path.parent == tmp_path.resolve()


def test_delete_removes_everything_and_ignores_missing_files(tmp_path):
    stored = store(encode(gradient((1000, 500)), "JPEG"), tmp_path)
    (tmp_path / stored.variants[0]["filename"]).unlink()  # already gone
    removed = delete_image_files(tmp_path, stored.filename, stored.variants)
    assert removed == 2
    assert files_in(tmp_path) == []
    assert delete_image_files(tmp_path, stored.filename, stored.variants) == 0


@pytest.mark.parametrize("name", ["../victim.txt", "..", f"../{TOKEN}.jpg", "/etc/passwd"])
def test_delete_refuses_traversal_and_deletes_nothing(tmp_path, name):
    folder = tmp_path / "media"
    folder.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    kept = folder / f"{TOKEN}.jpg"
    kept.write_bytes(b"x")
    with pytest.raises(ValueError):
        delete_image_files(folder, name, [])
    with pytest.raises(ValueError):  # a bad variant name stops the whole deletion
        delete_image_files(folder, kept.name, [{"filename": name}])
    assert victim.exists() and kept.exists()


# --- failures part-way ------------------------------------------------------------


@pytest.mark.parametrize("failing_call", [1, 2, 4])
def test_failure_while_encoding_leaves_no_files(tmp_path, monkeypatch, failing_call):
    real_save = Image.Image.save
    calls = []

    def flaky_save(self, fp, *args, **kwargs):
        calls.append(1)
        if len(calls) == failing_call:
            fp.write(b"half a file")
            raise OSError("No space left on device")
        return real_save(self, fp, *args, **kwargs)

    data = encode(gradient((1700, 900)), "JPEG")
    monkeypatch.setattr(Image.Image, "save", flaky_save)
    with pytest.raises(OSError, match="No space left"):
        store(data, tmp_path)
    assert files_in(tmp_path) == []


def test_failure_while_renaming_leaves_no_files(tmp_path, monkeypatch):
    real_replace = uploads.os.replace
    calls = []

    def flaky_replace(src, dst):
        calls.append(1)
        if len(calls) == 3:
            raise PermissionError("read-only file system")
        return real_replace(src, dst)

    data = encode(gradient((1700, 900)), "PNG")
    monkeypatch.setattr(uploads.os, "replace", flaky_replace)
    with pytest.raises(PermissionError):
        store(data, tmp_path)
    assert files_in(tmp_path) == []


# --- robustness ------------------------------------------------------------------

SAMPLES = [
    encode(gradient((64, 48)), "JPEG"),
    encode(gradient((64, 48), "RGBA"), "PNG"),
    encode(gradient((64, 48), "RGBA"), "WEBP"),
    animated_gif(size=(40, 30)),
]


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    sample=st.sampled_from(SAMPLES),
    edits=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=6),
    cut=st.integers(0, 10_000),
)
def test_damaged_files_are_stored_or_refused_cleanly(tmp_path, sample, edits, cut):
    data = bytearray(sample)
    for position, value in edits:
        data[position % len(data)] = value
    data = bytes(data[: max(1, len(data) - cut % 64)])
    folder = tmp_path / "fuzz"
    try:
        stored = store(data, folder)
    except UploadError:
        return
    assert all(path.exists() for path in all_paths(folder, stored))
