"""Photos projected on Ray workers, one task per photo (each is a long optimisation of its own)."""
from __future__ import annotations

from typing import Any, Iterator, Sequence

from studio.distributed.frames import IN_FLIGHT, RayFrames
from studio.distributed.models import ModelSource, worker_model
from studio.distributed.ordered import in_order, remote
from studio.distributed.stop import Stop
from studio.errors import StudioError


CHECK_EVERY = 25  # optimisation steps between looks at the job's Stop flag


def project_one(src: ModelSource, image: Any, space: str, steps: int, condition: Sequence[float],
                options: dict[str, Any], stop: Stop) -> tuple[Any, str | None] | None:
    """The task body: (the answer's recipe for the driver's checkpoint path and its ProjectionResult's
    psnr / steps / seconds, None), or (None, why) when this photo cannot be projected; None: cancelled."""
    from studio.render.projection import project

    def progress(p: Any) -> None:
        if p.done % CHECK_EVERY == 0:
            stop.check()

    g = worker_model(src)
    try:
        result = project(g, image, space, steps, progress=progress, condition=tuple(condition), align=False,
                         **options)
    except StudioError as exc:
        return None, str(exc)
    return (result.recipe(g, src.path, condition), result.psnr, result.steps, result.seconds), None


def project_on_cluster(frames: RayFrames, images: Sequence[Any], space: str, steps: int,
                       condition: Sequence[float],
                       options: dict[str, Any]) -> Iterator[tuple[Any, str | None] | None]:
    """project_one for each image, results in order (None while waiting)."""
    task = remote(project_one, 1.0 if frames.cluster.gpus else 0.0)

    def submit(i: int, stop: Stop) -> Any:
        return task.remote(frames.source, images[i], space, steps, tuple(condition), options, stop)

    yield from in_order(submit, len(images), IN_FLIGHT * frames.cluster.workers, lambda i: f"photo {i + 1}")
