from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import cast

if TYPE_CHECKING:
  from ..models.embed_request_record import EmbedRequestRecord





T = TypeVar("T", bound="EmbedRequest")



@_attrs_define
class EmbedRequest:
    """ An embedding request.

        Attributes:
            record (EmbedRequestRecord): The patient's record, FHIR R4: a Bundle, one resource, or an array of resources.
            model (None | str | Unset): The model to ask, by name or version id: needed only where the site runs several.
            pooling (None | str | Unset): How the model's states are read: `last` (the state at the last token, D floats),
                `last_and_mean` (2·D), `last_mean_max` (3·D). Default `last`.
     """

    record: EmbedRequestRecord
    model: None | str | Unset = UNSET
    pooling: None | str | Unset = UNSET





    def to_dict(self) -> dict[str, Any]:
        from ..models.embed_request_record import EmbedRequestRecord # noqa: PLC0415
        record = self.record.to_dict()

        model: None | str | Unset
        if isinstance(self.model, Unset):
            model = UNSET
        else:
            model = self.model

        pooling: None | str | Unset
        if isinstance(self.pooling, Unset):
            pooling = UNSET
        else:
            pooling = self.pooling


        field_dict: dict[str, Any] = {}

        field_dict.update({
            "record": record,
        })
        if model is not UNSET:
            field_dict["model"] = model
        if pooling is not UNSET:
            field_dict["pooling"] = pooling

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.embed_request_record import EmbedRequestRecord # noqa: PLC0415
        d = dict(src_dict)
        record = EmbedRequestRecord.from_dict(d.pop("record"))




        def _parse_model(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        model = _parse_model(d.pop("model", UNSET))


        def _parse_pooling(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        pooling = _parse_pooling(d.pop("pooling", UNSET))


        embed_request = cls(
            record=record,
            model=model,
            pooling=pooling,
        )

        return embed_request

