from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from typing import cast






T = TypeVar("T", bound="Proof")



@_attrs_define
class Proof:
    """ A record's inclusion proof, checkable offline with the operator's public key.

        Attributes:
            index (int): The record's position.
            record (str): The record as logged (canonical JSON).
            leaf (str): Its leaf hash (hex): the receipt's.
            path (list[str]): The audit path, leaf to root (hex).
            checkpoint (str): The signed checkpoint the path leads to (C2SP tlog-checkpoint).
     """

    index: int
    record: str
    leaf: str
    path: list[str]
    checkpoint: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        index = self.index

        record = self.record

        leaf = self.leaf

        path = self.path



        checkpoint = self.checkpoint


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "index": index,
            "record": record,
            "leaf": leaf,
            "path": path,
            "checkpoint": checkpoint,
        })

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        index = d.pop("index")

        record = d.pop("record")

        leaf = d.pop("leaf")

        path = cast(list[str], d.pop("path"))


        checkpoint = d.pop("checkpoint")

        proof = cls(
            index=index,
            record=record,
            leaf=leaf,
            path=path,
            checkpoint=checkpoint,
        )


        proof.additional_properties = d
        return proof

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
