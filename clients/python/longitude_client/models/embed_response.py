from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from typing import cast

if TYPE_CHECKING:
  from ..models.audit_receipt import AuditReceipt
  from ..models.model_ref import ModelRef
  from ..models.patient_embedding import PatientEmbedding





T = TypeVar("T", bound="EmbedResponse")



@_attrs_define
class EmbedResponse:
    """ The answer to `POST /v1/embed`.

        Attributes:
            model (ModelRef): The model version that answered.
            pooling (str): How its states were read.
            dimensions (int): Floats per vector.
            embeddings (list[PatientEmbedding]): One per patient with a dated event.
            audit (AuditReceipt): Where the call's audit record sits: ask `/v1/audit/proof` for its inclusion proof.
     """

    model: ModelRef
    pooling: str
    dimensions: int
    embeddings: list[PatientEmbedding]
    audit: AuditReceipt
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        from ..models.audit_receipt import AuditReceipt # noqa: PLC0415
        from ..models.model_ref import ModelRef # noqa: PLC0415
        from ..models.patient_embedding import PatientEmbedding # noqa: PLC0415
        model = self.model.to_dict()

        pooling = self.pooling

        dimensions = self.dimensions

        embeddings = []
        for embeddings_item_data in self.embeddings:
            embeddings_item = embeddings_item_data.to_dict()
            embeddings.append(embeddings_item)



        audit = self.audit.to_dict()


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "model": model,
            "pooling": pooling,
            "dimensions": dimensions,
            "embeddings": embeddings,
            "audit": audit,
        })

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.audit_receipt import AuditReceipt # noqa: PLC0415
        from ..models.model_ref import ModelRef # noqa: PLC0415
        from ..models.patient_embedding import PatientEmbedding # noqa: PLC0415
        d = dict(src_dict)
        model = ModelRef.from_dict(d.pop("model"))




        pooling = d.pop("pooling")

        dimensions = d.pop("dimensions")

        embeddings = []
        _embeddings = d.pop("embeddings")
        for embeddings_item_data in (_embeddings):
            embeddings_item = PatientEmbedding.from_dict(embeddings_item_data)



            embeddings.append(embeddings_item)


        audit = AuditReceipt.from_dict(d.pop("audit"))




        embed_response = cls(
            model=model,
            pooling=pooling,
            dimensions=dimensions,
            embeddings=embeddings,
            audit=audit,
        )


        embed_response.additional_properties = d
        return embed_response

    @property
    def additional_keys(self) -> list[str]:
        return list(self.additional_properties.keys())

    def __getitem__(self, key: str) -> Any:
        return self.additional_properties[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.additional_properties[key] = value

    def __delitem__(self, key: str) -> None:
        del self.additional_properties[key]

    def __contains__(self, key: str) -> bool:
        return key in self.additional_properties
