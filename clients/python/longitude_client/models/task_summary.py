from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import cast






T = TypeVar("T", bound="TaskSummary")



@_attrs_define
class TaskSummary:
    """ A task a version answers.

        Attributes:
            task (str): The task.
            description (str): What it predicts.
            auroc (float | None | Unset): Held-out AUROC of the served method.
            prevalence (float | None | Unset): Held-out prevalence.
     """

    task: str
    description: str
    auroc: float | None | Unset = UNSET
    prevalence: float | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        task = self.task

        description = self.description

        auroc: float | None | Unset
        if isinstance(self.auroc, Unset):
            auroc = UNSET
        else:
            auroc = self.auroc

        prevalence: float | None | Unset
        if isinstance(self.prevalence, Unset):
            prevalence = UNSET
        else:
            prevalence = self.prevalence


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "task": task,
            "description": description,
        })
        if auroc is not UNSET:
            field_dict["auroc"] = auroc
        if prevalence is not UNSET:
            field_dict["prevalence"] = prevalence

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        task = d.pop("task")

        description = d.pop("description")

        def _parse_auroc(data: object) -> float | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(float | None | Unset, data)

        auroc = _parse_auroc(d.pop("auroc", UNSET))


        def _parse_prevalence(data: object) -> float | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(float | None | Unset, data)

        prevalence = _parse_prevalence(d.pop("prevalence", UNSET))


        task_summary = cls(
            task=task,
            description=description,
            auroc=auroc,
            prevalence=prevalence,
        )


        task_summary.additional_properties = d
        return task_summary

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
