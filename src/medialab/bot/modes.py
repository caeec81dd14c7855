"""The modes of the main menu: their callback data (DESIGN §6, fixed), the text that explains
each one, the state it starts in, and what to tell a user whose message does not fit."""

from __future__ import annotations

from dataclasses import dataclass

from aiogram.fsm.state import State

from medialab.bot.states import (
    AddTextStates,
    EditStates,
    FaceSwapStates,
    GenerateStates,
    MergeStates,
    RetouchStates,
    UpscaleStates,
)
from medialab.domain.operations import OperationType

MODE_PREFIX = "mode:"
# Telegram albums hold at most 10 photos; merging more at once is not offered.
MERGE_MAX_PHOTOS = 10


@dataclass(frozen=True)
class Mode:
    operation: OperationType
    button_key: str
    intro_key: str
    first_state: State

    @property
    def callback_data(self) -> str:
        return MODE_PREFIX + self.operation.value


MODES: tuple[Mode, ...] = (
    Mode(OperationType.GENERATE, "button-generate", "mode-generate", GenerateStates.prompt),
    Mode(OperationType.EDIT, "button-edit", "mode-edit", EditStates.photo),
    Mode(OperationType.MERGE, "button-merge", "mode-merge", MergeStates.photos),
    Mode(OperationType.FACE_SWAP, "button-face-swap", "mode-face-swap", FaceSwapStates.face),
    Mode(OperationType.RETOUCH, "button-retouch", "mode-retouch", RetouchStates.photo),
    Mode(OperationType.UPSCALE, "button-upscale", "mode-upscale", UpscaleStates.photo),
    Mode(OperationType.ADD_TEXT, "button-add-text", "mode-add-text", AddTextStates.photo),
)
MODES_BY_CALLBACK = {mode.callback_data: mode for mode in MODES}

# What a message that fits no handler of the current state is told (state name -> text key).
HINTS: dict[str | None, str] = {
    GenerateStates.prompt.state: "need-prompt",
    EditStates.photo.state: "need-photo",
    EditStates.instruction.state: "need-instruction",
    AddTextStates.photo.state: "need-photo",
    AddTextStates.text.state: "need-overlay-text",
    MergeStates.photos.state: "merge-need-more",
    FaceSwapStates.face.state: "need-photo",
    FaceSwapStates.target.state: "need-photo",
    RetouchStates.photo.state: "need-photo",
    UpscaleStates.photo.state: "need-photo",
}
