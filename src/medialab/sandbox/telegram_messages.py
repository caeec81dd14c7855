"""Messages in a private chat: sending text, photos and documents, editing, deleting."""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

from medialab.sandbox import telegram_checks as check
from medialab.sandbox.telegram_state import ChatWorld, now
from medialab.sandbox.telegram_wire import MethodCall, bad_request

NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly the "
    "same as a current content and reply markup of the message"
)


def bot_message(world: ChatWorld, call: MethodCall, **content: Any) -> dict[str, Any]:
    """A new message from the bot in the call's chat, with its inline keyboard if it has one.
    Everything is checked before the message takes the chat's next message_id."""
    chat_id = check.chat_id_of(call.params)
    markup = check.inline_markup(call.params)
    message = world.new_message(chat_id, world.bot)
    message.update({key: value for key, value in content.items() if value is not None})
    if markup is not None:
        message["reply_markup"] = markup
    return message


def _editable_message(world: ChatWorld, params: dict[str, Any]) -> dict[str, Any]:
    message = world.message(
        check.chat_id_of(params), check.message_id_of(params), "message to edit not found"
    )
    if message["from"]["id"] != world.bot["id"]:
        raise bad_request("message can't be edited")
    return message


def _apply_edit(message: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """Edits in place; an edit that changes nothing is refused, as Telegram refuses it."""
    if all(message.get(key) == value for key, value in changes.items()):
        raise bad_request(NOT_MODIFIED)
    for key, value in changes.items():
        if value is None:
            message.pop(key, None)
        else:
            message[key] = value
    message["edit_date"] = now()
    return message


def send_message(world: ChatWorld, call: MethodCall) -> dict[str, Any]:
    return bot_message(world, call, text=check.message_text(call.params))


def edit_message_text(world: ChatWorld, call: MethodCall) -> Any:
    if call.params.get("inline_message_id"):
        return True  # inline messages are not ours to show; Telegram answers plain true
    message = _editable_message(world, call.params)
    if "text" not in message:
        raise bad_request("there is no text in the message to edit")
    # Without reply_markup an edit drops the keyboard the message had.
    text = check.message_text(call.params)
    return _apply_edit(message, {"text": text, "reply_markup": check.inline_markup(call.params)})


def edit_message_reply_markup(world: ChatWorld, call: MethodCall) -> Any:
    if call.params.get("inline_message_id"):
        return True
    message = _editable_message(world, call.params)
    return _apply_edit(message, {"reply_markup": check.inline_markup(call.params)})


def delete_message(world: ChatWorld, call: MethodCall) -> bool:
    key = (check.chat_id_of(call.params), check.message_id_of(call.params))
    if world.messages.pop(key, None) is None:
        raise bad_request("message to delete not found")
    return True


def send_photo(world: ChatWorld, call: MethodCall) -> dict[str, Any]:
    caption = check.caption(call.params)
    upload = call.upload_for("photo")
    if upload is not None:
        sizes = world.files.add_photo(upload.data)
    else:
        sizes = [world.files.require(check.required(call.params, "photo"))]
        if sizes[0].width is None:
            raise bad_request("wrong file identifier/HTTP URL specified")  # not a photo
    photo = [size.photo_size_json() for size in sizes]
    return bot_message(world, call, photo=photo, caption=caption)


def send_document(world: ChatWorld, call: MethodCall) -> dict[str, Any]:
    caption = check.caption(call.params)
    upload = call.upload_for("document")
    if upload is not None:
        suffix = PurePosixPath(upload.filename).suffix
        stored = world.files.add(upload.data, f"documents/file{suffix}", upload.filename)
    else:
        stored = world.files.require(check.required(call.params, "document"))
    return bot_message(world, call, document=stored.document_json(), caption=caption)


def send_chat_action(world: ChatWorld, call: MethodCall) -> bool:
    world.chat(check.chat_id_of(call.params))
    check.required(call.params, "action")
    return True


def answer_callback_query(world: ChatWorld, call: MethodCall) -> bool:
    world.answer_query(str(check.required(call.params, "callback_query_id")))
    return True
