"""Each mode's flow over the real webhook: what the user sends, the job queued under the
operation's id with the right GenerationRequest, and the mode staying chosen."""

from __future__ import annotations

from medialab.billing.audit import check_ledger
from medialab.jobs.requests import GenerationRequest
from medialab.sandbox.telegram import BotApiSandbox

from .conftest import Chat, Launcher, Running, buttons, ledger_of, operations_of, queued_request, queued_requests

USER = 720_001


class Operations:
    """The user's operations as they appear, one at a time, each with its queued job."""

    def __init__(self, app: Running) -> None:
        self.app = app
        self.seen: set[str] = set()

    async def new(self, kind: str, status: str = "free") -> tuple[str, GenerationRequest]:
        rows = await operations_of(self.app.services, USER)
        (operation,) = [row for row in rows if row.id not in self.seen]
        self.seen.add(operation.id)
        assert (operation.type, operation.status) == (kind, status)
        return operation.id, await queued_request(self.app.services, operation.id)


async def _user_id(app: Running) -> int:
    user = await app.services.billing.get_user_info(USER)
    assert user is not None
    return user.user_id


async def test_generate_takes_each_prompt_as_a_new_operation(app: Running, telegram: BotApiSandbox) -> None:
    chat = Chat(telegram, USER)
    ops = Operations(app)
    await chat.say("/start")
    intro = await chat.press("mode:generate")
    assert intro.params["text"].startswith("Режим «Создать по описанию»")

    reply = await chat.say("  a red fox on the moon ")
    assert reply.params["text"].splitlines() == [
        "Принято! Работаю над изображением и пришлю результат сюда.",
        "Использована бесплатная операция, осталось 3 из 4.",
    ]
    operation_id, request = await ops.new("generate")
    assert request == GenerationRequest(
        operation_id=operation_id, user_id=await _user_id(app), telegram_id=USER, operation_type="generate",
        language="ru", prompt="a red fox on the moon", photo_file_ids=(), billed=True)

    # The mode stays chosen: the next prompt is a new operation with its own job.
    await chat.say("a blue whale")
    second_id, second = await ops.new("generate")
    assert second_id != operation_id and second.prompt == "a blue whale"
    assert set(await queued_requests(app.services)) == {operation_id, second_id}


async def test_generate_refuses_what_is_not_a_prompt(launch: Launcher, telegram: BotApiSandbox) -> None:
    async with launch(jobs={"max_in_flight": 5}) as app:
        chat = Chat(telegram, USER)
        await chat.say("/start")
        await chat.press("mode:generate")
        sizes, _ = chat.photo()
        for update in (telegram.message_update(USER, "   "), telegram.photo_update(USER, sizes),
                       telegram.sticker_update(USER), telegram.message_update(USER, "/unknown")):
            reply = await chat.send(update)
            assert reply.params["text"] == "Нужно текстовое описание: напишите словами, что нарисовать."
        assert await operations_of(app.services, USER) == []
        assert await queued_requests(app.services) == {}


async def test_an_english_user_gets_english_and_an_english_job(app: Running, telegram: BotApiSandbox) -> None:
    chat = Chat(telegram, USER, language="en")
    ops = Operations(app)
    await chat.say("/start")
    assert (await chat.press("mode:generate")).params["text"].startswith("Mode “Create from a description”")
    reply = await chat.say("a lighthouse")
    assert reply.params["text"].splitlines()[1] == "A free operation was used; 3 of 4 left."
    _, request = await ops.new("generate")
    assert request.language == "en"


async def test_edit_takes_a_captioned_photo_or_a_photo_then_a_text(app: Running, telegram: BotApiSandbox) -> None:
    chat = Chat(telegram, USER)
    ops = Operations(app)
    await chat.say("/start")
    await chat.press("mode:edit")
    assert (await chat.say("make it blue")).params["text"] == "Пришлите фото (как фото, а не файлом)."

    sizes, full = chat.photo()
    assert (await chat.send_photo(sizes, caption="make it blue")).params["text"].startswith("Принято!")
    operation_id, request = await ops.new("edit")
    assert (request.operation_id, request.prompt, request.photo_file_ids) == (operation_id, "make it blue", (full,))

    sizes, full = chat.photo(640, 480)
    asked = await chat.send_photo(sizes)
    assert asked.params["text"] == "Фото получено. Теперь напишите, что на нём изменить."
    assert len(await operations_of(app.services, USER)) == 1  # a photo alone is not an operation
    await chat.say("add a hat")
    _, request = await ops.new("edit")
    assert (request.prompt, request.photo_file_ids, request.billed) == ("add a hat", (full,), True)


async def test_merge_collects_photos_and_starts_on_the_button_or_a_text(
    launch: Launcher, telegram: BotApiSandbox
) -> None:
    async with launch(jobs={"max_in_flight": 5}) as app:
        chat = Chat(telegram, USER)
        ops = Operations(app)
        await chat.say("/start")
        await chat.press("mode:merge")
        # Too few photos: told so, and nothing is charged.
        assert (await chat.say("merge them")).params["text"].startswith("Для объединения нужно хотя бы два фото, сейчас: 0")
        first, first_full = chat.photo()
        second, second_full = chat.photo(400, 300)
        assert (await chat.send_photo(first)).params["text"] == "Фото добавлено, всего: 1. Пришлите ещё хотя бы одно."
        added = await chat.send_photo(second, caption="side by side")
        assert added.params["text"].startswith("Фото добавлено, всего: 2.")
        assert buttons(added) == [("Объединить (2 фото)", "merge:go")]
        assert await operations_of(app.services, USER) == []

        assert (await chat.press("merge:go")).params["text"].startswith("Принято!")
        _, request = await ops.new("merge")
        assert (request.photo_file_ids, request.prompt) == ((first_full, second_full), "side by side")

        # The photos went with that operation: the old button does nothing now.
        assert (await chat.press("merge:go")).params["text"].startswith("Эта кнопка больше не действует")
        third, third_full = chat.photo()
        fourth, fourth_full = chat.photo()
        await chat.send_photo(third)
        await chat.send_photo(fourth)
        await chat.say("as a collage")
        _, request = await ops.new("merge")
        assert (request.photo_file_ids, request.prompt) == ((third_full, fourth_full), "as a collage")
        assert len(await operations_of(app.services, USER)) == 2


async def test_face_swap_takes_two_photos_per_operation(app: Running, telegram: BotApiSandbox) -> None:
    chat = Chat(telegram, USER)
    ops = Operations(app)
    await chat.say("/start")
    await chat.press("mode:face_swap")
    face, face_full = chat.photo()
    target, target_full = chat.photo(800, 600)
    got = await chat.send_photo(face)
    assert got.params["text"] == "Фото с лицом получено. Теперь пришлите фото, куда перенести лицо."
    await chat.send_photo(target)
    _, request = await ops.new("face_swap")
    assert (request.operation_type, request.photo_file_ids) == ("face_swap", (face_full, target_full))
    # The mode stays: the next photo is the face of a new pair.
    again, _ = chat.photo()
    assert (await chat.send_photo(again)).params["text"].startswith("Фото с лицом получено")
    assert len(await operations_of(app.services, USER)) == 1


async def test_retouch_and_upscale_take_one_photo_each(app: Running, telegram: BotApiSandbox) -> None:
    chat = Chat(telegram, USER)
    ops = Operations(app)
    await chat.say("/start")
    assert (await chat.press("mode:retouch")).params["text"].startswith("Режим «Ретушь»")
    sizes, full = chat.photo()
    await chat.send_photo(sizes)
    _, request = await ops.new("retouch")
    assert (request.photo_file_ids, request.prompt) == ((full,), None)

    # Another mode replaces the chosen one.
    assert (await chat.press("mode:upscale")).params["text"].startswith("Режим «Улучшить качество»")
    sizes, full = chat.photo()
    await chat.send_photo(sizes, caption="sharper please")
    _, request = await ops.new("upscale")
    assert (request.photo_file_ids, request.prompt) == ((full,), "sharper please")


async def test_add_text_is_free_and_takes_nothing_but_its_in_flight_slot(
    launch: Launcher, telegram: BotApiSandbox
) -> None:
    # No free operations and no money: add_text still runs.
    async with launch(billing={"free_operations_count": 0}) as app:
        chat = Chat(telegram, USER)
        await chat.say("/start")
        await chat.press("mode:add_text")
        sizes, full = chat.photo()
        reply = await chat.send_photo(sizes, caption="Hello!")
        assert reply.params["text"].splitlines()[1] == "Эта операция бесплатная."
        sizes, second_full = chat.photo()
        assert (await chat.send_photo(sizes)).params["text"] == "Фото получено. Теперь напишите текст для надписи."
        await chat.say("С днём рождения")

        jobs = await queued_requests(app.services)
        assert sorted((r.prompt, r.photo_file_ids, r.operation_type, r.billed) for r in jobs.values()) == [
            ("Hello!", (full,), "add_text", True), ("С днём рождения", (second_full,), "add_text", True)]
        assert all(job_id == request.operation_id and len(job_id) == 32 for job_id, request in jobs.items())
        operations = await operations_of(app.services, USER)
        assert sorted(op.id for op in operations) == sorted(jobs)
        assert {(op.type, op.price, op.status, op.job_state) for op in operations} == {
            ("add_text", 0, "charged", "queued")}
        assert await ledger_of(app.services, USER) == []
        user = await app.services.billing.get_user_info(USER)
        assert user is not None and (user.balance, user.free_operations_left) == (0, 0)
        assert await check_ledger(app.services.sessions) == []


async def test_start_cancel_and_another_mode_end_the_chosen_mode(app: Running, telegram: BotApiSandbox) -> None:
    chat = Chat(telegram, USER)
    ops = Operations(app)
    await chat.say("/start")
    await chat.press("mode:edit")
    sizes, _ = chat.photo()
    await chat.send_photo(sizes)  # waiting for the instruction now
    await chat.press("mode:generate")
    await chat.say("a castle")  # a prompt of the new mode, not the old photo's instruction
    await ops.new("generate")

    await chat.say("/start")
    assert (await chat.say("another castle")).params["text"] == "Сначала выберите режим в меню: /start"
    assert len(await operations_of(app.services, USER)) == 1


async def test_more_jobs_than_allowed_at_once_are_refused(app: Running, telegram: BotApiSandbox) -> None:
    chat = Chat(telegram, USER)
    await chat.say("/start")
    await chat.press("mode:generate")
    await chat.say("one")
    await chat.say("two")
    refused = await chat.say("three")
    assert refused.params["text"] == (
        "Сейчас уже выполняется операций: 2 (одновременно можно 2). Дождитесь результата и отправьте снова.")
    assert len(await queued_requests(app.services)) == 2
    user = await app.services.billing.get_user_info(USER)
    assert user is not None and user.free_operations_left == 2
