"""Image providers: fal.ai against its local stand-in, the Pillow provider, and the input rules."""

from __future__ import annotations

import base64
import logging
import random
from collections.abc import Callable
from io import BytesIO

import httpx
import pytest
from PIL import Image, ImageFilter, ImageStat

from medialab.jobs.providers import (
    FalProvider,
    ImageRequest,
    LocalProvider,
    ProviderError,
    validate_request,
)
from medialab.jobs.providers.local import caption_font, wrap_text
from medialab.sandbox.fal import FalSandbox

MakeFal = Callable[..., FalProvider]


def photo(colour: str, size: tuple[int, int] = (300, 200), image_format: str = "JPEG") -> bytes:
    buffer = BytesIO()
    Image.new("RGB", size, colour).save(buffer, image_format)
    return buffer.getvalue()


def noisy_photo(size: tuple[int, int] = (120, 80)) -> bytes:
    rng = random.Random(7)
    image = Image.new("L", size)
    image.putdata([rng.randrange(256) for _ in range(size[0] * size[1])])
    buffer = BytesIO()
    image.convert("RGB").save(buffer, "PNG")
    return buffer.getvalue()


def decode(data: bytes) -> Image.Image:
    return Image.open(BytesIO(data)).convert("RGB")


def close_to(pixel: tuple[int, ...], colour: tuple[int, int, int], tolerance: int = 40) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, colour, strict=True))


def ink_rows(image: Image.Image) -> int:
    """Rows holding white caption pixels (the test photos are dark and plain)."""
    bright = image.convert("L").point(lambda value: 255 if value > 200 else 0)
    return sum(bright.getprojection()[1])


# ---- fal.ai through the stand-in ----

async def test_fal_generate_returns_the_sandbox_png(fal: FalProvider,
                                                    fal_sandbox: FalSandbox) -> None:
    result = await fal.run(ImageRequest("generate", "a red fox", []))

    [request_id] = fal_sandbox.images
    assert result.data == fal_sandbox.images[request_id]
    assert (result.content_type, result.width, result.height) == ("image/png", 64, 48)
    [submit] = fal_sandbox.requests_to("POST")
    assert submit.path == "/fal-ai/flux/schnell"
    assert submit.json["prompt"] == "a red fox"
    # IN_QUEUE, IN_PROGRESS, COMPLETED: polled until done, then the returned URLs were used.
    assert len(fal_sandbox.requests_to("GET", f"/fal-ai/flux/requests/{request_id}/status")) == 3
    assert fal_sandbox.requests_to("GET", f"/files/{request_id}/image.png")


async def test_fal_sends_the_key_to_the_queue_only(fal: FalProvider,
                                                   fal_sandbox: FalSandbox) -> None:
    await fal.run(ImageRequest("generate", "a red fox", []))

    for recorded in fal_sandbox.requests:
        sent = recorded.headers.get("authorization")
        expected = None if recorded.path.startswith("/files/") else f"Key {fal_sandbox.key}"
        assert sent == expected, recorded.path


async def test_fal_wrong_key_is_refused_for_good(make_fal: MakeFal) -> None:
    with pytest.raises(ProviderError) as caught:
        await make_fal(key="wrong-key").run(ImageRequest("generate", "a fox", []))
    assert not caught.value.retryable
    assert "401" in caught.value.message and "wrong-key" not in caught.value.message


@pytest.mark.parametrize(
    ("kind", "count", "model_path", "fields"),
    [
        ("edit", 1, "/fal-ai/flux-pro/kontext", ["image_url"]),
        ("merge", 3, "/fal-ai/flux-pro/kontext/multi", ["image_urls"]),
        ("face_swap", 2, "/fal-ai/face-swap", ["base_image_url", "swap_image_url"]),
        ("upscale", 1, "/fal-ai/clarity-upscaler", ["image_url"]),
    ],
)
async def test_fal_sends_photos_as_data_uris(fal: FalProvider, fal_sandbox: FalSandbox, kind: str,
                                             count: int, model_path: str,
                                             fields: list[str]) -> None:
    photos = [photo(colour) for colour in ("red", "green", "blue")[:count]]
    await fal.run(ImageRequest(kind, "make it sunny", photos))

    [submit] = fal_sandbox.requests_to("POST")
    assert submit.path == model_path
    sent = [uri for field in fields for uri in
            (submit.json[field] if isinstance(submit.json[field], list) else [submit.json[field]])]
    prefix = "data:image/jpeg;base64,"
    assert all(uri.startswith(prefix) for uri in sent)
    assert [base64.b64decode(uri.removeprefix(prefix)) for uri in sent] == photos
    # Sub-path model ids keep their first two segments in the request URLs, as on fal.
    app_path = "/".join(model_path.split("/")[:3])
    assert fal_sandbox.requests_to("GET", f"{app_path}/requests/")


async def test_fal_retries_server_errors_then_succeeds(fal: FalProvider,
                                                       fal_sandbox: FalSandbox) -> None:
    fal_sandbox.set_mode("flaky", times=2)
    result = await fal.run(ImageRequest("generate", "a fox", []))
    assert len(fal_sandbox.requests_to("POST")) == 3
    assert result.data in fal_sandbox.images.values()


async def test_fal_retries_rate_limits(fal: FalProvider, fal_sandbox: FalSandbox) -> None:
    fal_sandbox.set_mode("rate_limit", times=1)
    await fal.run(ImageRequest("generate", "a fox", []))
    assert len(fal_sandbox.requests_to("POST")) == 2

    fal_sandbox.set_mode("rate_limit")
    with pytest.raises(ProviderError) as caught:
        await fal.run(ImageRequest("generate", "a fox", []))
    assert caught.value.retryable and "429" in caught.value.message
    assert len(fal_sandbox.requests_to("POST")) == 2 + 3  # max_attempts, then it gave up


async def test_fal_invalid_input_is_not_retried(fal: FalProvider, fal_sandbox: FalSandbox) -> None:
    fal_sandbox.set_mode("invalid", times=1)
    with pytest.raises(ProviderError) as caught:
        await fal.run(ImageRequest("generate", "a fox", []))
    assert not caught.value.retryable
    assert "422" in caught.value.message and "field required" in caught.value.message
    results = [r for r in fal_sandbox.requests_to("GET", "/requests/")
               if not r.path.endswith("/status")]
    assert len(results) == 1


@pytest.mark.parametrize(("mode", "words"), [("fail", "model crashed"), ("garbage", "unexpected")])
async def test_fal_failed_or_garbled_result_is_retryable(fal: FalProvider, fal_sandbox: FalSandbox,
                                                         mode: str, words: str) -> None:
    fal_sandbox.set_mode(mode)
    with pytest.raises(ProviderError) as caught:
        await fal.run(ImageRequest("generate", "a fox", []))
    assert caught.value.retryable and words in caught.value.message


async def test_fal_hang_times_out_and_cancels(make_fal: MakeFal, fal_sandbox: FalSandbox) -> None:
    fal_sandbox.set_mode("hang")
    with pytest.raises(ProviderError) as caught:
        await make_fal(timeout=0.3).run(ImageRequest("generate", "a fox", []))
    assert caught.value.retryable and "0.3s" in caught.value.message
    [job] = fal_sandbox.jobs.values()
    assert job.cancelled


async def test_fal_unreachable_is_retryable(refused_port: int) -> None:
    port = refused_port
    provider = FalProvider(f"http://127.0.0.1:{port}", "k", max_attempts=2, backoff_base=0.01)
    with pytest.raises(ProviderError) as caught:
        await provider.run(ImageRequest("generate", "a fox", []))
    await provider.aclose()
    assert caught.value.retryable and "ConnectError" in caught.value.message


async def test_fal_key_never_leaks(make_fal: MakeFal, fal_sandbox: FalSandbox,
                                   caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    provider, impatient = make_fal(), make_fal(timeout=0.3)
    errors: list[ProviderError] = []
    for mode in ("succeed", "flaky", "fail", "invalid", "garbage", "rate_limit", "hang"):
        fal_sandbox.set_mode(mode)
        try:
            await (impatient if mode == "hang" else provider).run(
                ImageRequest("generate", "a fox", []))
        except ProviderError as error:
            errors.append(error)
    assert len(errors) == 6
    shown = [caplog.text, repr(provider), str(provider)]
    shown += [text for error in errors for text in (str(error), repr(error))]
    assert all(fal_sandbox.key not in text for text in shown)


async def test_fal_refuses_bad_photos_before_calling(fal: FalProvider,
                                                     fal_sandbox: FalSandbox) -> None:
    with pytest.raises(ProviderError, match="photo 1 is not a readable image") as caught:
        await fal.run(ImageRequest("edit", "sunny", [b"not an image"]))
    assert not caught.value.retryable
    with pytest.raises(ProviderError, match="add_text is drawn locally"):
        await fal.run(ImageRequest("add_text", "hi", [photo("red")]))
    assert fal_sandbox.requests == []


async def test_fal_sandbox_speaks_the_queue_protocol(fal_url: str,
                                                    fal_sandbox: FalSandbox) -> None:
    auth = {"Authorization": f"Key {fal_sandbox.key}"}
    async with httpx.AsyncClient(base_url=fal_url, headers=auth) as client:
        assert (await client.post("/fal-ai/flux/dev", json={}, headers={"Authorization": "x"})
                ).status_code == 401
        submitted = await client.post("/fal-ai/flux-pro/kontext/max/multi", json={})
        assert submitted.status_code == 200
        queued = submitted.json()
        assert queued["status_url"] == (
            f"{fal_url}/fal-ai/flux-pro/requests/{queued['request_id']}/status")
        assert (await client.get(queued["response_url"])).status_code == 400  # not done yet
        states = [(await client.get(queued["status_url"])).json()["status"] for _ in range(3)]
        assert states == ["IN_QUEUE", "IN_PROGRESS", "COMPLETED"]
        [image] = (await client.get(queued["response_url"])).json()["images"]
        downloaded = await client.get(image["url"], headers={"Authorization": ""})
    assert decode(downloaded.content).size == (image["width"], image["height"])
    with pytest.raises(ValueError, match="unknown sandbox mode"):
        fal_sandbox.set_mode("explode")


# ---- the local Pillow provider ----

async def test_local_generate_is_a_deterministic_picture_of_the_prompt() -> None:
    local = LocalProvider(generate_size=256)
    first = await local.run(ImageRequest("generate", "лиса в лесу", []))
    again = await local.run(ImageRequest("generate", "лиса в лесу", []))
    other = await local.run(ImageRequest("generate", "a city at night", []))

    assert (first.content_type, first.width, first.height) == ("image/png", 256, 256)
    assert decode(first.data).size == (256, 256)
    assert first.data == again.data and first.data != other.data
    spread = ImageStat.Stat(decode(first.data).convert("L")).extrema[0]
    assert spread[1] - spread[0] > 100  # a gradient with writing, not a flat square


async def test_local_edit_changes_the_photo_by_instruction() -> None:
    original = photo("navy")
    warmer = await LocalProvider().run(ImageRequest("edit", "make it warmer", [original]))
    colder = await LocalProvider().run(ImageRequest("edit", "make it colder", [original]))

    edited = decode(warmer.data)
    assert edited.size == (300, 200) and warmer.content_type == "image/jpeg"
    assert not close_to(edited.getpixel((5, 5)), decode(original).getpixel((5, 5)), 20)
    assert ink_rows(edited) > 0  # the instruction is written on it
    assert edited.getpixel((5, 5)) != decode(colder.data).getpixel((5, 5))


async def test_local_merge_puts_photos_side_by_side() -> None:
    result = await LocalProvider().run(
        ImageRequest("merge", None, [photo("red", (300, 200)), photo("blue", (100, 400))]))
    merged = decode(result.data)
    # The tall photo is scaled to the common height of 200: 100x400 becomes 50x200.
    assert merged.size == (350, 200) == (result.width, result.height)
    assert close_to(merged.getpixel((10, 100)), (255, 0, 0))
    assert close_to(merged.getpixel((340, 100)), (0, 0, 255))


async def test_local_face_swap_lays_the_second_centre_on_the_first() -> None:
    result = await LocalProvider().run(
        ImageRequest("face_swap", None, [photo("red"), photo("lime", (120, 120))]))
    swapped = decode(result.data)
    assert swapped.size == (300, 200)
    assert close_to(swapped.getpixel((150, 100)), (0, 255, 0))
    assert close_to(swapped.getpixel((5, 5)), (255, 0, 0))


async def test_local_retouch_smooths() -> None:
    original = noisy_photo()
    result = await LocalProvider().run(ImageRequest("retouch", None, [original]))

    def edge_energy(image: Image.Image) -> float:
        return ImageStat.Stat(image.convert("L").filter(ImageFilter.FIND_EDGES)).mean[0]

    assert decode(result.data).size == (120, 80)
    assert edge_energy(decode(result.data)) < edge_energy(decode(original)) / 3


async def test_local_upscale_doubles_up_to_the_cap() -> None:
    doubled = await LocalProvider().run(ImageRequest("upscale", None, [photo("teal")]))
    assert decode(doubled.data).size == (600, 400) == (doubled.width, doubled.height)

    capped = await LocalProvider(max_side=500).run(ImageRequest("upscale", None, [photo("teal")]))
    assert decode(capped.data).size == (500, 333)


# ---- add_text: Cyrillic captions ----

def test_caption_font_has_cyrillic_glyphs() -> None:
    font = caption_font(40)
    glyphs = {bytes(font.getmask(letter)) for letter in "ПДЖЯЫ"}
    assert len(glyphs) == 5  # a font without Cyrillic draws them all as the same empty box


async def test_add_text_writes_the_text_on_the_photo() -> None:
    base = photo("black", (400, 300))
    hello = await LocalProvider().run(ImageRequest("add_text", "Привет", [base]))
    bye = await LocalProvider().run(ImageRequest("add_text", "Пока-пока", [base]))

    assert hello.content_type == "image/jpeg" and (hello.width, hello.height) == (400, 300)
    assert ink_rows(decode(hello.data)) > 10
    assert decode(hello.data).tobytes() != decode(bye.data).tobytes()


async def test_add_text_wraps_long_text_to_the_width() -> None:
    base = photo("black", (400, 300))
    short = await LocalProvider().run(ImageRequest("add_text", "Короткий текст", [base]))
    long_text = "Очень длинная подпись, которая никак не помещается в одну строку картинки"
    wrapped = await LocalProvider().run(ImageRequest("add_text", long_text, [base]))

    assert ink_rows(decode(wrapped.data)) > 2 * ink_rows(decode(short.data))
    font = caption_font(30)
    lines = wrap_text(long_text + " Сверхдлинноесловобезпробелов" * 3, font, 200)
    assert len(lines) > 3 and all(font.getlength(line) <= 200 for line in lines)
    assert " ".join(lines).replace(" ", "") == (long_text + " Сверхдлинноесловобезпробелов" * 3
                                                ).replace(" ", "")


# ---- input rules ----

@pytest.mark.parametrize(
    ("kind", "prompt", "count", "message"),
    [
        ("generate", "  ", 0, "generate needs a text prompt"),
        ("generate", "fox", 1, "generate needs no photos, got 1"),
        ("edit", None, 1, "edit needs an instruction"),
        ("edit", "sunny", 0, "edit needs one photo, got 0"),
        ("merge", None, 1, "merge needs 2 or more photos, got 1"),
        ("face_swap", None, 3, "face_swap needs exactly 2 photos, got 3"),
        ("retouch", None, 2, "retouch needs one photo, got 2"),
        ("upscale", None, 0, "upscale needs one photo, got 0"),
        ("add_text", "", 1, "add_text needs the text to put on the photo"),
        ("add_text", "hi", 0, "add_text needs one photo, got 0"),
        ("paint", "fox", 0, "unknown operation type 'paint'"),
    ],
)
async def test_malformed_requests_are_refused_for_good(kind: str, prompt: str | None, count: int,
                                                       message: str) -> None:
    request = ImageRequest(kind, prompt, [photo("red")] * count)
    with pytest.raises(ProviderError) as caught:
        validate_request(request)
    assert caught.value.message == message and not caught.value.retryable
    with pytest.raises(ProviderError, match=message):
        await LocalProvider().run(request)


async def test_local_refuses_bytes_that_are_not_an_image() -> None:
    with pytest.raises(ProviderError) as caught:
        await LocalProvider().run(ImageRequest("merge", None, [photo("red"), b"\x89PNG broken"]))
    assert caught.value.message == "photo 2 is not a readable image"
    assert not caught.value.retryable
