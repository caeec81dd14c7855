"""The user's side of the chat: Update objects exactly as Telegram would deliver them to the
bot's webhook, each with the next update_id, and remembered where Telegram remembers them
(messages for later edits, query ids for their answers, Stars charges for refunds)."""

from __future__ import annotations

import copy
import io
import secrets
from typing import Any

from PIL import Image

from medialab.sandbox.telegram_state import ChatWorld, StarCharge

STICKER_SIDE = 512


def _sticker_image() -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", (STICKER_SIDE, STICKER_SIDE), (255, 200, 0, 255)).save(out, format="WEBP")
    return out.getvalue()


class UserSide:
    """Builds what the users do in their chats with the bot, as Update dicts."""

    def __init__(self, world: ChatWorld) -> None:
        self.world = world

    def add_file(self, data: bytes, file_path_hint: str = "photos/file.jpg") -> str:
        """Seeds a file as if a user had sent it; returns its file_id."""
        return self.world.files.add(data, file_path_hint).file_id

    def _update(self, **body: Any) -> dict[str, Any]:
        # A snapshot: later edits of a stored message must not change an update already built.
        return copy.deepcopy({"update_id": self.world.next_update_id(), **body})

    def _user_message(
        self, user_id: int, language_code: str | None, first_name: str | None, **content: Any
    ) -> dict[str, Any]:
        user = self.world.meet_user(user_id, language_code, first_name)
        message = self.world.new_message(user_id, user)
        message.update({key: value for key, value in content.items() if value is not None})
        return self._update(message=message)

    def message_update(
        self,
        user_id: int,
        text: str,
        language_code: str | None = None,
        first_name: str | None = None,
    ) -> dict[str, Any]:
        """A text message. language_code None keeps the user's language (Russian at first)."""
        entities = None
        if text.startswith("/"):
            command = text.split(maxsplit=1)[0]
            entities = [{"offset": 0, "length": len(command), "type": "bot_command"}]
        return self._user_message(user_id, language_code, first_name, text=text, entities=entities)

    def command_update(
        self,
        user_id: int,
        command: str,
        language_code: str | None = None,
        first_name: str | None = None,
    ) -> dict[str, Any]:
        """"/start" or "start" alike: a message whose text is the command."""
        text = command if command.startswith("/") else f"/{command}"
        return self.message_update(user_id, text, language_code, first_name)

    def photo_update(
        self,
        user_id: int,
        file_ids: list[str],
        caption: str | None = None,
        media_group_id: str | None = None,
        language_code: str | None = None,
    ) -> dict[str, Any]:
        """One photo whose sizes are the given seeded files, smallest first (the last is the
        full size a bot downloads). An album is several of these with one media_group_id."""
        sizes = [self.world.files.require(file_id).photo_size_json() for file_id in file_ids]
        if not sizes:
            raise ValueError("a photo has at least one size")
        content = {"photo": sizes, "caption": caption, "media_group_id": media_group_id}
        return self._user_message(user_id, language_code, None, **content)

    def sticker_update(self, user_id: int, language_code: str | None = None) -> dict[str, Any]:
        stored = self.world.files.add(_sticker_image(), "stickers/file.webp")
        sticker = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "type": "regular",
            "width": STICKER_SIDE,
            "height": STICKER_SIDE,
            "is_animated": False,
            "is_video": False,
            "emoji": "😀",
            "file_size": stored.file_size,
        }
        return self._user_message(user_id, language_code, None, sticker=sticker)

    def callback_update(
        self,
        user_id: int,
        data: str,
        message_id: int | None = None,
        language_code: str | None = None,
    ) -> dict[str, Any]:
        """A press on an inline button of the bot's message (default: its latest in the chat)."""
        user = self.world.meet_user(user_id, language_code)
        if message_id is None:
            message = self.world.last_bot_message(user_id)
            if message is None:
                raise ValueError(f"the bot has sent no message to chat {user_id} to press on")
        else:
            message = self.world.messages.get((user_id, message_id))
            if message is None:
                raise ValueError(f"chat {user_id} has no message {message_id}")
        query = {
            "id": self.world.open_query(),
            "from": user,
            "message": message,
            "chat_instance": str(user_id * 7919 + self.world.bot["id"]),
            "data": data,
        }
        return self._update(callback_query=query)

    def pre_checkout_update(
        self,
        user_id: int,
        currency: str,
        total_amount: int,
        invoice_payload: str,
        language_code: str | None = None,
    ) -> dict[str, Any]:
        """The user pressed Pay: the bot must answer it (answerPreCheckoutQuery) in time."""
        query = {
            "id": self.world.open_query(),
            "from": self.world.meet_user(user_id, language_code),
            "currency": currency,
            "total_amount": total_amount,
            "invoice_payload": invoice_payload,
        }
        return self._update(pre_checkout_query=query)

    def successful_payment_update(
        self,
        user_id: int,
        currency: str,
        total_amount: int,
        invoice_payload: str,
        telegram_payment_charge_id: str | None = None,
        language_code: str | None = None,
    ) -> dict[str, Any]:
        """The service message of a completed payment; its charge can then be refunded once."""
        charge_id = telegram_payment_charge_id or "stxC" + secrets.token_urlsafe(24)
        self.world.charges[charge_id] = StarCharge(user_id=user_id, total_amount=total_amount)
        payment = {
            "currency": currency,
            "total_amount": total_amount,
            "invoice_payload": invoice_payload,
            "telegram_payment_charge_id": charge_id,
            "provider_payment_charge_id": f"{user_id}_{len(self.world.charges)}",
        }
        return self._user_message(user_id, language_code, None, successful_payment=payment)

    def refunded_payment_update(self, user_id: int, charge_id: str, language_code: str | None = None) -> dict[str, Any]:
        """The service message Telegram sends when a Stars payment was refunded (by the bot's
        refundStarPayment, or by Telegram itself after a dispute)."""
        charge = self.world.charges[charge_id]
        charge.refunded = True
        refunded = {"currency": "XTR", "total_amount": charge.total_amount, "invoice_payload": "",
                    "telegram_payment_charge_id": charge_id}
        return self._user_message(user_id, language_code, None, refunded_payment=refunded)
