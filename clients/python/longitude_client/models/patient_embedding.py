from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from typing import cast






T = TypeVar("T", bound="PatientEmbedding")



@_attrs_define
class PatientEmbedding:
    """ One patient's embedding.

        Attributes:
            patient (str): The patient, as the request referred to them.
            as_of (str): As of when (RFC 3339): the record's latest dated event.
            vector (list[float]): The vector.
     """

    patient: str
    as_of: str
    vector: list[float]
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        patient = self.patient

        as_of = self.as_of

        vector = self.vector




        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "patient": patient,
            "as_of": as_of,
            "vector": vector,
        })

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        patient = d.pop("patient")

        as_of = d.pop("as_of")

        vector = cast(list[float], d.pop("vector"))


        patient_embedding = cls(
            patient=patient,
            as_of=as_of,
            vector=vector,
        )


        patient_embedding.additional_properties = d
        return patient_embedding

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
