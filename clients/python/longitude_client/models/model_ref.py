from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset







T = TypeVar("T", bound="ModelRef")



@_attrs_define
class ModelRef:
    """ The model version that answered.

        Attributes:
            id (str): `name@version`.
            method (str): The method that scored: the one its validation report describes.
            manifest_sha256 (str): The bundle's manifest SHA-256, as registered.
     """

    id: str
    method: str
    manifest_sha256: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        id = self.id

        method = self.method

        manifest_sha256 = self.manifest_sha256


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "id": id,
            "method": method,
            "manifest_sha256": manifest_sha256,
        })

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        id = d.pop("id")

        method = d.pop("method")

        manifest_sha256 = d.pop("manifest_sha256")

        model_ref = cls(
            id=id,
            method=method,
            manifest_sha256=manifest_sha256,
        )


        model_ref.additional_properties = d
        return model_ref

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
