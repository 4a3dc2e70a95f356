from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import cast

if TYPE_CHECKING:
  from ..models.model_detail_model_card_type_0 import ModelDetailModelCardType0
  from ..models.task_summary import TaskSummary





T = TypeVar("T", bound="ModelDetail")



@_attrs_define
class ModelDetail:
    """ A deployed version with its model card and signature.

        Attributes:
            id (str): `name@version`.
            name (str): The model's name.
            version (int): Its version under the name.
            mode (str): `active` (answers) or `shadow` (scored and logged, never returned).
            method (str): The method that scores.
            owner (str): The owning organisation.
            manifest_sha256 (str): The bundle's manifest SHA-256, as registered.
            signed_by (str): The keys that signed it.
            tasks (list[TaskSummary]): The tasks it answers.
            registered_by (str): Who registered it, and when.
            registered_at (str): When.
            signature (str): The owner's signed note over the bundle's manifest (C2SP signed-note), checkable with the
                owner's public key.
            model_card (ModelDetailModelCardType0 | None | Unset): The bundle's model card.
     """

    id: str
    name: str
    version: int
    mode: str
    method: str
    owner: str
    manifest_sha256: str
    signed_by: str
    tasks: list[TaskSummary]
    registered_by: str
    registered_at: str
    signature: str
    model_card: ModelDetailModelCardType0 | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        from ..models.model_detail_model_card_type_0 import ModelDetailModelCardType0 # noqa: PLC0415
        from ..models.task_summary import TaskSummary # noqa: PLC0415
        id = self.id

        name = self.name

        version = self.version

        mode = self.mode

        method = self.method

        owner = self.owner

        manifest_sha256 = self.manifest_sha256

        signed_by = self.signed_by

        tasks = []
        for tasks_item_data in self.tasks:
            tasks_item = tasks_item_data.to_dict()
            tasks.append(tasks_item)



        registered_by = self.registered_by

        registered_at = self.registered_at

        signature = self.signature

        model_card: dict[str, Any] | None | Unset
        if isinstance(self.model_card, Unset):
            model_card = UNSET
        elif isinstance(self.model_card, ModelDetailModelCardType0):
            model_card = self.model_card.to_dict()
        else:
            model_card = self.model_card


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "id": id,
            "name": name,
            "version": version,
            "mode": mode,
            "method": method,
            "owner": owner,
            "manifest_sha256": manifest_sha256,
            "signed_by": signed_by,
            "tasks": tasks,
            "registered_by": registered_by,
            "registered_at": registered_at,
            "signature": signature,
        })
        if model_card is not UNSET:
            field_dict["model_card"] = model_card

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.model_detail_model_card_type_0 import ModelDetailModelCardType0 # noqa: PLC0415
        from ..models.task_summary import TaskSummary # noqa: PLC0415
        d = dict(src_dict)
        id = d.pop("id")

        name = d.pop("name")

        version = d.pop("version")

        mode = d.pop("mode")

        method = d.pop("method")

        owner = d.pop("owner")

        manifest_sha256 = d.pop("manifest_sha256")

        signed_by = d.pop("signed_by")

        tasks = []
        _tasks = d.pop("tasks")
        for tasks_item_data in (_tasks):
            tasks_item = TaskSummary.from_dict(tasks_item_data)



            tasks.append(tasks_item)


        registered_by = d.pop("registered_by")

        registered_at = d.pop("registered_at")

        signature = d.pop("signature")

        def _parse_model_card(data: object) -> ModelDetailModelCardType0 | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                model_card_type_0 = ModelDetailModelCardType0.from_dict(data)



                return model_card_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(ModelDetailModelCardType0 | None | Unset, data)

        model_card = _parse_model_card(d.pop("model_card", UNSET))


        model_detail = cls(
            id=id,
            name=name,
            version=version,
            mode=mode,
            method=method,
            owner=owner,
            manifest_sha256=manifest_sha256,
            signed_by=signed_by,
            tasks=tasks,
            registered_by=registered_by,
            registered_at=registered_at,
            signature=signature,
            model_card=model_card,
        )


        model_detail.additional_properties = d
        return model_detail

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
