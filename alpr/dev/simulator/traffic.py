"""Synthetic traffic: fixed cameras and mobile units, vehicle passes, GPS tracks, timed frames."""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Iterator

import numpy as np

from alpr.config import SimulatorConfig
from alpr.dev.simulator.plates import PlateSpec, plate_pool
from alpr.dev.simulator.render import Conditions, Sprite, compose, render_background, render_plate, render_vehicle, stamp
from alpr.domain.types import FrameMeta, Location

METERS_PER_DEG_LAT = 111_320.0


class GpsTrack:
    """A patrol route on a street grid: straight blocks and right-angle turns at patrol speed."""

    def __init__(self, start: Location, rng: random.Random, speed_mps: float = 11.0, legs: int = 400):
        self.speed = speed_mps
        self.points = [(0.0, 0.0)]  # metres east, north of start
        self.start = start
        heading = rng.choice((0, 90, 180, 270))
        for _ in range(legs):
            heading = (heading + rng.choice((0, 0, 90, -90))) % 360
            length = rng.uniform(80, 400)
            x, y = self.points[-1]
            rad = math.radians(heading)
            self.points.append((x + length * math.sin(rad), y + length * math.cos(rad)))
        self.cumulative = [0.0]
        for (x0, y0), (x1, y1) in zip(self.points, self.points[1:]):
            self.cumulative.append(self.cumulative[-1] + math.hypot(x1 - x0, y1 - y0))

    def at(self, seconds: float) -> Location:
        d = (seconds * self.speed) % self.cumulative[-1]
        i = max(0, np.searchsorted(self.cumulative, d, side="right") - 1)
        i = min(i, len(self.points) - 2)
        seg = self.cumulative[i + 1] - self.cumulative[i]
        f = 0.0 if seg == 0 else (d - self.cumulative[i]) / seg
        (x0, y0), (x1, y1) = self.points[i], self.points[i + 1]
        east, north = x0 + f * (x1 - x0), y0 + f * (y1 - y0)
        lat = self.start.latitude + north / METERS_PER_DEG_LAT
        lon = self.start.longitude + east / (METERS_PER_DEG_LAT * math.cos(math.radians(self.start.latitude)))
        return Location(round(lat, 7), round(lon, 7))


@dataclass
class _Pass:
    spec: PlateSpec | None
    sprite: Sprite
    frames: int
    night: bool
    occlusion: float
    start: tuple[float, float, float]  # centre x, centre y, vehicle width (fractions of the frame)
    end: tuple[float, float, float]
    shown: int = 0


@dataclass
class Camera:
    camera_id: str
    kind: str  # "fixed" or "mobile"
    rng: random.Random
    background: np.ndarray
    yaw: float
    site: Location | None = None
    track: GpsTrack | None = None
    current: _Pass | None = None
    gap: int = 0

    def location_at(self, seconds: float) -> Location:
        return self.site if self.track is None else self.track.at(seconds)


@dataclass(frozen=True)
class SimFrame:
    meta: FrameMeta
    image: np.ndarray
    plates: tuple[tuple[str, np.ndarray], ...]  # true plate text and its quad in scene pixels


class Simulator:
    """Deterministic for a seed: N fixed cameras and M mobile units seeing vehicles from one pool."""

    def __init__(self, cfg: SimulatorConfig, pool_size: int = 150):
        self.cfg = cfg
        self.pool = plate_pool(cfg.seed, pool_size)
        rng = random.Random(cfg.seed)
        center = Location(cfg.center_lat, cfg.center_lon)
        self.cameras: list[Camera] = []
        for i in range(cfg.fixed_cameras):
            crng = random.Random(f"{cfg.seed}-fixed-{i}")
            site = Location(
                round(center.latitude + rng.uniform(-0.02, 0.02), 6),
                round(center.longitude + rng.uniform(-0.02, 0.02), 6),
            )
            self.cameras.append(
                Camera(f"fixed-{i + 1:02d}", "fixed", crng, render_background(cfg.width, cfg.height, crng),
                       crng.uniform(-0.12, 0.12), site=site)
            )
        for i in range(cfg.mobile_units):
            crng = random.Random(f"{cfg.seed}-mobile-{i}")
            self.cameras.append(
                Camera(f"mobile-{i + 1:02d}", "mobile", crng, render_background(cfg.width, cfg.height, crng),
                       crng.uniform(-0.2, 0.2), track=GpsTrack(center, crng))
            )

    def _new_pass(self, cam: Camera) -> _Pass:
        rng = cam.rng
        spec = None if rng.random() < self.cfg.no_plate_ratio else rng.choice(self.pool)
        plate_img = render_plate(spec, rng) if spec else None
        x = rng.uniform(0.35, 0.65)
        return _Pass(
            spec=spec,
            sprite=render_vehicle(plate_img, rng),
            frames=rng.randint(3, 7),
            night=rng.random() < 0.3,
            occlusion=rng.choice((0.0,) * 8 + (0.1, 0.18)),
            start=(x, rng.uniform(0.45, 0.55), rng.uniform(0.28, 0.36)),
            end=(x + rng.uniform(-0.1, 0.1), rng.uniform(0.6, 0.68), rng.uniform(0.48, 0.6)),
        )

    def render(self, cam: Camera, captured_at: datetime, elapsed_s: float) -> SimFrame:
        """The camera's next frame at the given time: part of a vehicle pass or an empty road."""
        cfg, rng = self.cfg, cam.rng
        if cam.current is None and cam.gap <= 0:
            cam.current = self._new_pass(cam)
        ms = int(captured_at.timestamp() * 1000)
        location = cam.location_at(elapsed_s)
        plates: tuple[tuple[str, np.ndarray], ...] = ()
        if cam.current is None:
            cam.gap -= 1
            image = np.clip(cam.background + np.random.default_rng(ms).normal(0, 4, cam.background.shape), 0, 255).astype(np.uint8)
        else:
            p = cam.current
            f = p.shown / max(1, p.frames - 1)
            cx, cy, vw = (a + f * (b - a) for a, b in zip(p.start, p.end))
            cond = Conditions(
                night=p.night,
                blur_px=rng.choice((0, 0, 0, 3, 5, 7)),
                noise_sigma=rng.uniform(2, 8),
                occlusion=p.occlusion,
            )
            image, quad = compose(cam.background, p.sprite, (cx * cfg.width, cy * cfg.height), vw * cfg.width,
                                  cam.yaw + rng.uniform(-0.03, 0.03), cond, rng)
            if quad is not None and p.spec is not None:
                plates = ((p.spec.plate, quad),)
            p.shown += 1
            if p.shown >= p.frames:
                cam.current, cam.gap = None, rng.randint(0, 3)
        stamp(image, f"{captured_at:%Y-%m-%d %H:%M:%S} {cam.camera_id.upper()}")
        meta = FrameMeta(cam.camera_id, f"{cam.camera_id}-{ms}", captured_at, location, tuple(p for p, _ in plates))
        return SimFrame(meta, image, plates)

    def frames(self, realtime: bool = True, start: datetime | None = None) -> Iterator[SimFrame]:
        """Frames from all cameras in capture-time order, forever; paced to the clock if realtime."""
        start = start or datetime.now(timezone.utc)
        t0 = time.monotonic()
        step = 1.0 / self.cfg.fps
        tick = 0
        while True:
            elapsed = tick * step
            if realtime:
                delay = t0 + elapsed - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                now = datetime.now(timezone.utc)
            else:
                now = start + timedelta(seconds=elapsed)
            for cam in self.cameras:
                yield self.render(cam, now, elapsed)
            tick += 1
