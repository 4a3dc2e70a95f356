from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset







T = TypeVar("T", bound="Readiness")



@_attrs_define
class Readiness:
    """ Readiness.

        Attributes:
            ready (bool): Whether the registry and the audit log can be read.
            versions_answering (int): Deployed versions loaded and answering, all sites.
            versions_refused (int): Deployed versions refused (an unsigned or changed bundle): the server log says why.
     """

    ready: bool
    versions_answering: int
    versions_refused: int
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        ready = self.ready

        versions_answering = self.versions_answering

        versions_refused = self.versions_refused


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "ready": ready,
            "versions_answering": versions_answering,
            "versions_refused": versions_refused,
        })

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        ready = d.pop("ready")

        versions_answering = d.pop("versions_answering")

        versions_refused = d.pop("versions_refused")

        readiness = cls(
            ready=ready,
            versions_answering=versions_answering,
            versions_refused=versions_refused,
        )


        readiness.additional_properties = d
        return readiness

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
