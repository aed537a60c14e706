"""The ``promote`` pipeline's node: check the request, then call the registry's promotion."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, field_validator

from diab_readmit.algorithms import ALGORITHMS
from diab_readmit.datasets.model_registry import VERSION_ID
from diab_readmit.datasets.registry_promotion import promote
from diab_readmit.datasets.registry_root import RegistryLocation
from diab_readmit.errors import UserFixableError

EXAMPLE = (
    "kedro run --pipelines promote --params promote.algorithm=xgboost,"
    'promote.version=v20261201_120000,promote.reason="why"'
)


class PromotionRequestError(UserFixableError, ValueError):
    """A promotion asked for without the algorithm, the version or a reason."""


class PromoteParams(BaseModel):
    """``promote``: which version of which algorithm becomes the champion, and why.

    Every field may be null in parameters_promotion.yml (Kedro validates the parameters of
    every registered pipeline on every run); the node insists on them when it runs.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    algorithm: str | None = None
    version: str | None = None
    reason: str | None = None
    #: Who asks; null: the account running the command (user@host).
    user: str | None = None

    @field_validator("algorithm")
    @classmethod
    def _known_algorithm(cls, value: str | None) -> str | None:
        if value is not None and value not in ALGORITHMS:
            raise ValueError(
                f"unknown algorithm '{value}'; valid names are {list(ALGORITHMS)}"
            )
        return value

    @field_validator("version")
    @classmethod
    def _version_id(cls, value: str | None) -> str | None:
        if value is not None and not VERSION_ID.fullmatch(str(value)):
            raise ValueError(
                f"'{value}' is not a version id: expected v<YYYYMMDD_HHMMSS> (optionally "
                f"_NN), as listed in the algorithm's versions.json"
            )
        return value


def request_promotion(promote: PromoteParams) -> dict[str, str | None]:
    """The promotion to record: algorithm, version, reason and (optionally) user.

    Raises:
        PromotionRequestError: when the algorithm, the version or the reason is missing.
    """
    missing = [
        f"promote.{key}"
        for key in ("algorithm", "version", "reason")
        if not (getattr(promote, key) or "").strip()
    ]
    if missing:
        raise PromotionRequestError(
            f"The promote pipeline needs {', '.join(missing)}: e.g. `{EXAMPLE}`. The "
            f"algorithm's registered versions and their status are in "
            f"data/06_models/model_registry/<algorithm>/versions.json."
        )
    return promote.model_dump()


def promote_requested_version(
    promote_params: PromoteParams, registry: RegistryLocation
) -> dict[str, str | None]:
    """Make the requested version the champion of its algorithm (or roll back to it).

    Args:
        promote_params: ``params:promote`` (algorithm, version, reason, user).
        registry: the registry root (``model_registry_location``).

    Returns:
        The committed promotion record (algorithm, version_id, sha256, promoted_at,
        promoted_by, reason, previous_champion).

    Raises:
        PromotionRequestError: when the algorithm, the version or the reason is missing.
    """
    request = request_promotion(promote_params)
    return promote(
        registry,
        request["algorithm"],
        request["version"],
        reason=request["reason"],
        user=request["user"],
    )
