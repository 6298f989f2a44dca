"""Drawing plates, vehicles and camera scenes with the defects real cameras add.

Plates are drawn flat at a fixed resolution, mounted on a vehicle sprite, then placed in a scene
with a perspective warp, so each frame of a pass shows the plate at a new size and angle.
"""

from __future__ import annotations

import functools
import os
import random
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from alpr.dev.simulator.plates import PlateSpec

PLATE_W, PLATE_H = 360, 180  # 12 x 6 inch at 30 px per inch

_FONT_DIRS = ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/dejavu", "/usr/share/fonts/TTF")
FRAME_TEXTS = ("", "", "", "PREMIER AUTO GROUP", "CITY MOTORS", "I'D RATHER BE FISHING", "VISIT OUR DEALER")


@functools.lru_cache(maxsize=32)
def font(size: int, bold: bool = True, condensed: bool = True) -> ImageFont.ImageFont:
    """A plate-like sans font; DejaVu from the OS when present, else Pillow's embedded font."""
    name = "DejaVuSans" + ("Condensed" if condensed else "") + ("-Bold" if bold else "") + ".ttf"
    for directory in _FONT_DIRS:
        path = os.path.join(directory, name)
        if os.path.exists(path):
            return ImageFont.truetype(path, size)
    return ImageFont.load_default(size)


def _centered(draw: ImageDraw.ImageDraw, text: str, cx: float, cy: float, fnt, fill, stroke: int = 0) -> None:
    left, top, right, bottom = draw.textbbox((0, 0), text, font=fnt, stroke_width=stroke)
    draw.text((cx - (right - left) / 2 - left, cy - (bottom - top) / 2 - top), text, font=fnt, fill=fill,
              stroke_width=stroke, stroke_fill=fill)


def render_plate(spec: PlateSpec, rng: random.Random) -> np.ndarray:
    """The plate face, BGR, PLATE_W x PLATE_H: header, characters, slogan and maybe frame text."""
    st = spec.state
    rgb = lambda bgr: tuple(reversed(bgr))  # noqa: E731 - PIL draws RGB
    img = Image.new("RGB", (PLATE_W, PLATE_H), rgb(st.background))
    draw = ImageDraw.Draw(img)
    draw.rounded_rectangle((2, 2, PLATE_W - 3, PLATE_H - 3), radius=14, outline=rgb(st.text), width=3)
    for bx in (60, PLATE_W - 60):  # bolt holes
        draw.ellipse((bx - 6, 14, bx + 6, 26), fill=(90, 90, 90))
    _centered(draw, st.name, PLATE_W / 2, 28, font(30, bold=True, condensed=False), rgb(st.header))
    chars = spec.printed
    size = 96 if len(chars) <= 7 else 84
    fnt = font(size)
    while draw.textlength(chars, font=fnt) > PLATE_W - 30:
        size -= 4
        fnt = font(size)
    _centered(draw, chars, PLATE_W / 2, PLATE_H * 0.56, fnt, rgb(st.text), stroke=1)
    if st.slogan:
        _centered(draw, st.slogan, PLATE_W / 2, PLATE_H - 22, font(20, bold=False), rgb(st.header))
    plate = cv2.cvtColor(np.asarray(img), cv2.COLOR_RGB2BGR)
    frame_text = rng.choice(FRAME_TEXTS)
    if frame_text:  # dealer frame: a dark border with its own text, a classic OCR distractor
        plate = cv2.copyMakeBorder(plate, 14, 26, 14, 14, cv2.BORDER_CONSTANT, value=(25, 25, 25))
        pil = Image.fromarray(cv2.cvtColor(plate, cv2.COLOR_BGR2RGB))
        _centered(ImageDraw.Draw(pil), frame_text, pil.width / 2, pil.height - 13, font(18, condensed=False), (220, 220, 220))
        plate = cv2.resize(cv2.cvtColor(np.asarray(pil), cv2.COLOR_RGB2BGR), (PLATE_W, PLATE_H), interpolation=cv2.INTER_AREA)
    return plate


@dataclass(frozen=True)
class Sprite:
    """A vehicle rear view with its plate quad in sprite pixels (None when it has no plate)."""

    image: np.ndarray
    mask: np.ndarray
    plate_quad: np.ndarray | None


CAR_COLOURS = ((30, 30, 30), (200, 200, 200), (40, 40, 150), (140, 80, 30), (230, 230, 230), (60, 90, 60), (90, 90, 100))


def render_vehicle(plate: np.ndarray | None, rng: random.Random) -> Sprite:
    """A simple rear view of a car (body, rear window, lights, bumper) with the plate mounted."""
    w, h = 900, 620
    img = np.zeros((h, w, 3), np.uint8)
    mask = np.zeros((h, w), np.uint8)
    colour = rng.choice(CAR_COLOURS)
    shade = tuple(int(c * 0.6) for c in colour)
    cabin = np.array([[190, 40], [710, 40], [800, 250], [100, 250]], np.int32)
    cv2.fillPoly(img, [cabin], colour)
    cv2.fillPoly(img, [np.array([[225, 70], [675, 70], [750, 235], [150, 235]], np.int32)], (70, 60, 50))
    cv2.rectangle(img, (40, 240), (860, 560), colour, -1)
    cv2.rectangle(img, (30, 470), (870, 560), shade, -1)  # bumper
    for x0 in (60, 700):  # tail lights
        cv2.rectangle(img, (x0, 280), (x0 + 140, 340), (30, 30, 190), -1)
        cv2.rectangle(img, (x0 + 10, 290), (x0 + 130, 330), (60, 60, 230), -1)
    for x0 in (70, 690):  # tyres
        cv2.rectangle(img, (x0, 540), (x0 + 140, 615), (15, 15, 15), -1)
    cv2.fillPoly(mask, [cabin], 255)
    cv2.rectangle(mask, (30, 240), (870, 560), 255, -1)
    for x0 in (70, 690):
        cv2.rectangle(mask, (x0, 540), (x0 + 140, 615), 255, -1)
    quad = None
    if plate is not None:
        pw, ph = 300, 150
        x0, y0 = (w - pw) // 2, 340
        img[y0 : y0 + ph, x0 : x0 + pw] = cv2.resize(plate, (pw, ph), interpolation=cv2.INTER_AREA)
        quad = np.array([[x0, y0], [x0 + pw, y0], [x0 + pw, y0 + ph], [x0, y0 + ph]], np.float32)
    return Sprite(img, mask, quad)


def render_background(width: int, height: int, rng: random.Random) -> np.ndarray:
    """A street: sky, buildings with windows and a sign, road with lane markings."""
    img = np.zeros((height, width, 3), np.uint8)
    horizon = int(height * rng.uniform(0.3, 0.42))
    sky = np.linspace(235, 170, horizon, dtype=np.float32)[:, None]
    img[:horizon] = np.stack([sky * 1.0, sky * 0.85, sky * 0.7], -1).astype(np.uint8)
    x = 0
    while x < width:
        bw, bh = rng.randint(60, 180), rng.randint(horizon // 3, horizon)
        grey = rng.randint(70, 170)
        cv2.rectangle(img, (x, horizon - bh), (x + bw, horizon), (grey, grey, grey + rng.randint(-20, 20)), -1)
        for wy in range(horizon - bh + 8, horizon - 10, 22):
            for wx in range(x + 8, x + bw - 12, 20):
                cv2.rectangle(img, (wx, wy), (wx + 8, wy + 10), (grey // 2, grey // 2, grey // 2 + 20), -1)
        x += bw + rng.randint(0, 20)
    road = np.linspace(95, 130, height - horizon, dtype=np.float32)[:, None]
    img[horizon:] = np.stack([road, road, road], -1).astype(np.uint8)
    for lane in (0.35, 0.65):
        x_top, x_bot = int(width * (0.5 + (lane - 0.5) * 0.2)), int(width * lane * 1.4 - width * 0.2)
        cv2.line(img, (x_top, horizon), (x_bot, height), (220, 220, 220), 3)
    sign_x = rng.randint(0, max(1, width - 200))
    cv2.rectangle(img, (sign_x, 10), (sign_x + 170, 45), (40, 110, 30), -1)
    cv2.putText(img, rng.choice(("MAIN ST", "ELM AVE", "5TH ST", "OAK BLVD")), (sign_x + 12, 37),
                cv2.FONT_HERSHEY_SIMPLEX, 0.8, (255, 255, 255), 2, cv2.LINE_AA)
    noise = np.random.default_rng(rng.randint(0, 2**31)).normal(0, 6, img.shape)
    return np.clip(img + noise, 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class Conditions:
    """What the camera adds to one frame."""

    night: bool
    blur_px: int  # motion blur length
    noise_sigma: float
    occlusion: float  # fraction of the plate width covered, 0 for none


def compose(
    background: np.ndarray,
    sprite: Sprite,
    center: tuple[float, float],
    vehicle_width: float,
    yaw: float,
    conditions: Conditions,
    rng: random.Random,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Place the sprite in the scene with perspective and defects; return image and plate quad."""
    scene = background.copy()
    h, w = sprite.image.shape[:2]
    s = vehicle_width / w
    cx, cy = center
    # Perspective: one side of the vehicle nearer the camera than the other.
    dy = yaw * h * s
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    dst = np.float32(
        [
            [cx - w * s / 2, cy - h * s / 2 - dy / 2],
            [cx + w * s / 2, cy - h * s / 2 + dy / 2],
            [cx + w * s / 2, cy + h * s / 2 - dy / 2],
            [cx - w * s / 2, cy + h * s / 2 + dy / 2],
        ]
    )
    dst[:, 0] += np.float32([rng.uniform(-3, 3) for _ in range(4)]) * s * 10
    m = cv2.getPerspectiveTransform(src, dst)
    size = (scene.shape[1], scene.shape[0])
    warped = cv2.warpPerspective(sprite.image, m, size, flags=cv2.INTER_AREA)
    alpha = cv2.warpPerspective(sprite.mask, m, size, flags=cv2.INTER_LINEAR)[..., None] / 255.0
    scene = (warped * alpha + scene * (1 - alpha)).astype(np.uint8)
    quad = None
    if sprite.plate_quad is not None:
        quad = cv2.perspectiveTransform(sprite.plate_quad[None], m)[0]
        if conditions.occlusion > 0:  # a tow hitch, bike rack or dirt over part of the plate
            x0, y0 = quad.min(0)
            x1, y1 = quad.max(0)
            cover = (x1 - x0) * conditions.occlusion
            left = rng.random() < 0.5
            xa = x0 + (0 if left else (x1 - x0) - cover)
            cv2.rectangle(scene, (int(xa), int(y0 + (y1 - y0) * 0.2)), (int(xa + cover), int(y1 + 4)), (35, 35, 35), -1)
    if conditions.blur_px:
        k = np.zeros((conditions.blur_px, conditions.blur_px), np.float32)
        k[conditions.blur_px // 2, :] = 1.0 / conditions.blur_px
        scene = cv2.filter2D(scene, -1, k)
    if conditions.night:
        scene = (255.0 * (scene / 255.0) ** 1.9 * 0.55).astype(np.uint8)
        if quad is not None:  # the plate lamp and IR keep the plate brighter than its surroundings
            pmask = np.zeros(scene.shape[:2], np.uint8)
            cv2.fillConvexPoly(pmask, quad.astype(np.int32), 255)
            pmask = cv2.GaussianBlur(pmask, (0, 0), 6)[..., None] / 255.0
            scene = np.clip(scene * (1 + 1.1 * pmask), 0, 255).astype(np.uint8)
    noise = np.random.default_rng(rng.randint(0, 2**31)).normal(0, conditions.noise_sigma, scene.shape)
    scene = np.clip(scene + noise, 0, 255).astype(np.uint8)
    return scene, quad


def stamp(scene: np.ndarray, text: str) -> None:
    """The camera's on-screen date and id, as real cameras burn in (in place)."""
    cv2.putText(scene, text, (10, scene.shape[0] - 12), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
