"""Conversation states kept in Redis (aiogram's RedisStorage): a chosen mode is a state, so it
stays chosen across messages and web processes until /cancel, /start or another mode."""

from __future__ import annotations

from aiogram.fsm.state import State, StatesGroup


class TopupStates(StatesGroup):
    amount = State()


class GenerateStates(StatesGroup):
    prompt = State()


class EditStates(StatesGroup):
    photo = State()
    # A photo came without a caption: the next text is the instruction.
    instruction = State()


class AddTextStates(StatesGroup):
    photo = State()
    text = State()


class MergeStates(StatesGroup):
    photos = State()


class FaceSwapStates(StatesGroup):
    face = State()
    target = State()


class RetouchStates(StatesGroup):
    photo = State()


class UpscaleStates(StatesGroup):
    photo = State()
