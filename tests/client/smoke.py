"""Smoke test of the generated Python client (vbs_client) against a running stack.

Uses only the client generated from openapi/vbs.json by scripts/client-gen.sh: its
AuthenticatedClient with the X-Auth-Token header, its typed api functions and its models.
Every call checks the status code and the parsed model; any failure exits non-zero.

Inputs (environment): VBS_BASE_URL (the gateway), VBS_TOKEN (grants VBS_PROJECT),
VBS_PROJECT, VBS_VOLUME_ID (a volume of the file driver in that project) and VBS_SNAPSHOT_ID
(a snapshot of that volume). Run it with scripts/client-smoke.sh.
"""

from __future__ import annotations

import os
import sys
import time
import traceback
import uuid
from collections.abc import Callable
from http import HTTPStatus
from typing import Any, TypeVar

import attrs
from vbs_client import AuthenticatedClient
from vbs_client.api.backup_policies import (
    create_backup_policy,
    delete_backup_policy,
    execute_backup_policy,
    list_backup_policies,
    update_backup_policy,
)
from vbs_client.api.backup_policy_resources import associate_resources
from vbs_client.api.backup_tasks import list_backup_tasks
from vbs_client.api.native_backups import (
    create_native_backup,
    list_native_backups_detail,
    show_native_backup,
)
from vbs_client.models import (
    AssociateRequest,
    BackupCreatedResponse,
    BackupDetail,
    BackupDetailListResponse,
    BackupDetailResponse,
    CreateNativeBackupRequest,
    CreatePolicyRequest,
    NativeBackupInput,
    PolicyIdResponse,
    PolicyListResponse,
    PolicyResourceType,
    PolicyStatusName,
    PolicyView,
    ResourceInput,
    ResourcesResponse,
    ScheduledPolicyInput,
    SortDir,
    TaskListResponse,
    TaskState,
    TaskView,
    UpdatePolicyRequest,
    WeekDayName,
    YesNo,
)
from vbs_client.types import Response

TIMEOUT = 60.0
POLL = 0.2
T = TypeVar("T")


steps = 0  # steps passed so far


class SmokeFailure(Exception):
    pass


def env(name: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        raise SmokeFailure(f"{name} is not set")
    return value


def expect(response: Response[Any], status: HTTPStatus, model: type[T] | None, what: str) -> T:
    """The parsed body of `response`, which must have `status` and parse as `model`."""
    if response.status_code != status:
        body = response.content.decode("utf-8", "replace")
        raise SmokeFailure(f"{what}: expected {int(status)}, got {int(response.status_code)}: {body}")
    if model is None:
        return None  # type: ignore[return-value]
    if not isinstance(response.parsed, model):
        raise SmokeFailure(
            f"{what}: expected a {model.__name__}, the client parsed {type(response.parsed).__name__}"
        )
    undocumented = sorted(set(extra_fields(response.parsed)))
    if undocumented:
        raise SmokeFailure(f"{what}: fields the document does not declare: {', '.join(undocumented)}")
    return response.parsed


def extra_fields(model: Any, at: str = "") -> list[str]:
    """Keys of the response that the OpenAPI schema does not declare (the generated models keep
    them in additional_properties)."""
    found: list[str] = []
    if attrs.has(type(model)):
        for key in getattr(model, "additional_properties", {}):
            found.append(f"{at}{key}")
        for field in attrs.fields(type(model)):
            if field.name != "additional_properties":
                found += extra_fields(getattr(model, field.name), f"{at}{field.name}.")
    elif isinstance(model, list):
        for item in model:
            found += extra_fields(item, at)
    return found


def check(condition: bool, message: str) -> None:
    if not condition:
        raise SmokeFailure(message)


def eventually(what: str, probe: Callable[[], T | None], timeout: float = TIMEOUT) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value is not None:
            return value
        if time.monotonic() > deadline:
            raise SmokeFailure(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(POLL)


def find_policy(client: AuthenticatedClient, project: str, policy_id: str) -> PolicyView:
    listed = expect(
        list_backup_policies.sync_detailed(project, client=client),
        HTTPStatus.OK,
        PolicyListResponse,
        "list backup policies",
    )
    matches = [p for p in listed.backup_policies if p.backup_policy_id == policy_id]
    check(len(matches) == 1, f"policy {policy_id} is listed {len(matches)} times")
    return matches[0]


def show_backup(client: AuthenticatedClient, project: str, backup_id: str) -> BackupDetail:
    shown = expect(
        show_native_backup.sync_detailed(project, backup_id, client=client),
        HTTPStatus.OK,
        BackupDetailResponse,
        f"show backup {backup_id}",
    )
    check(shown.backup.id == backup_id, f"asked for backup {backup_id}, got {shown.backup.id}")
    return shown.backup


def wait_available(client: AuthenticatedClient, project: str, backup_id: str) -> BackupDetail:
    def probe() -> BackupDetail | None:
        backup = show_backup(client, project, backup_id)
        if backup.status in ("error", "error_deleting", "deleting"):
            raise SmokeFailure(f"backup {backup_id} became {backup.status}: {backup.fail_reason}")
        return backup if backup.status == "available" else None

    return eventually(f"backup {backup_id} to be available", probe)


def run() -> int:
    base_url = env("VBS_BASE_URL")
    token = env("VBS_TOKEN")
    project = env("VBS_PROJECT")
    volume = env("VBS_VOLUME_ID")
    snapshot = env("VBS_SNAPSHOT_ID")

    def passed(line: str) -> None:
        global steps
        steps += 1
        print(f"ok {steps}: {line}", flush=True)

    client = AuthenticatedClient(
        base_url=base_url,
        token=token,
        prefix="",
        auth_header_name="X-Auth-Token",
        raise_on_unexpected_status=True,
        timeout=30.0,  # type: ignore[arg-type]  # httpx accepts a number
    )
    with client:
        # 1. Create a policy.
        name = f"client_smoke_{uuid.uuid4().hex[:8]}"
        created = expect(
            create_backup_policy.sync_detailed(
                project,
                client=client,
                body=CreatePolicyRequest(
                    backup_policy_name=name,
                    scheduled_policy=ScheduledPolicyInput(
                        start_time="22:00,00:00,02:00",
                        week_frequency=[WeekDayName.MON],
                        rentention_num=2,
                        status=PolicyStatusName.ON,
                        remain_first_backup_of_cur_month=YesNo.N,
                    ),
                    time_zone="UTC+02:00",
                ),
            ),
            HTTPStatus.OK,
            PolicyIdResponse,
            "create a backup policy",
        )
        policy_id = created.backup_policy_id
        passed(f"created policy {name} ({policy_id})")

        # 2. It is listed as created.
        policy = find_policy(client, project, policy_id)
        schedule = policy.scheduled_policy
        check(policy.backup_policy_name == name, f"listed name {policy.backup_policy_name!r}")
        check(policy.time_zone == "UTC+02:00", f"listed time_zone {policy.time_zone!r}")
        check(schedule.start_time == "22:00,00:00,02:00", f"listed start_time {schedule.start_time!r}")
        check(schedule.week_frequency == ["MON"], f"listed week_frequency {schedule.week_frequency!r}")
        check(schedule.rentention_num == 2, f"listed rentention_num {schedule.rentention_num!r}")
        check(schedule.status == "ON", f"listed status {schedule.status!r}")
        check(policy.policy_resource_count == 0, f"listed resource count {policy.policy_resource_count}")
        passed(f"listed policy {policy_id}")

        # 3. Modify it (partially: the start time and the time zone are kept).
        modified = expect(
            update_backup_policy.sync_detailed(
                project,
                policy_id,
                client=client,
                body=UpdatePolicyRequest(
                    backup_policy_name=f"{name}_v2",
                    scheduled_policy=ScheduledPolicyInput(
                        week_frequency=[WeekDayName.MON, WeekDayName.THU],
                        rentention_num=3,
                        status=PolicyStatusName.OFF,
                    ),
                ),
            ),
            HTTPStatus.OK,
            PolicyIdResponse,
            "modify the backup policy",
        )
        check(modified.backup_policy_id == policy_id, f"modify answered {modified.backup_policy_id}")
        policy = find_policy(client, project, policy_id)
        schedule = policy.scheduled_policy
        check(policy.backup_policy_name == f"{name}_v2", f"modified name {policy.backup_policy_name!r}")
        check(schedule.week_frequency == ["MON", "THU"], f"modified week_frequency {schedule.week_frequency}")
        check(schedule.rentention_num == 3, f"modified rentention_num {schedule.rentention_num!r}")
        check(schedule.status == "OFF", f"modified status {schedule.status!r}")
        check(schedule.start_time == "22:00,00:00,02:00", f"start_time not kept: {schedule.start_time!r}")
        check(policy.time_zone == "UTC+02:00", f"time_zone not kept: {policy.time_zone!r}")
        passed(f"modified policy {policy_id}")

        # 4. Associate the volume.
        associated = expect(
            associate_resources.sync_detailed(
                project,
                client=client,
                body=AssociateRequest(
                    backup_policy_id=policy_id,
                    resources=[ResourceInput(resource_id=volume, resource_type=PolicyResourceType.VOLUME)],
                ),
            ),
            HTTPStatus.OK,
            ResourcesResponse,
            "associate the volume",
        )
        check(
            [r.resource_id for r in associated.success_resources] == [volume]
            and not associated.fail_resources,
            f"associate: success {[r.to_dict() for r in associated.success_resources]}, "
            f"fail {[r.to_dict() for r in associated.fail_resources]}",
        )
        check(
            find_policy(client, project, policy_id).policy_resource_count == 1,
            "resource count after associate",
        )
        passed(f"associated volume {volume}")

        # The scheduler learns of policies through messages: its task list answers 404 until
        # it knows this one.
        def tasks() -> list[TaskView] | None:
            response = list_backup_tasks.sync_detailed(
                project, policy_id, client=client, limit=100, sort_dir=SortDir.DESC
            )
            if response.status_code == HTTPStatus.NOT_FOUND:
                return None
            return expect(response, HTTPStatus.OK, TaskListResponse, "list backup tasks").tasks

        before = {t.job_id for t in eventually("the task-scheduler to know the policy", tasks)}

        # 5. Execute it now (even though it is OFF).
        expect(
            execute_backup_policy.sync_detailed(project, policy_id, client=client),
            HTTPStatus.NO_CONTENT,
            None,
            "execute the backup policy",
        )
        passed(f"executed policy {policy_id}")

        # 6. Its task for the volume succeeds.
        seen: list[str] = []

        def finished() -> TaskView | None:
            for task in tasks() or []:
                if task.resource_id != volume or task.job_id in before:
                    continue
                if not seen or seen[-1] != task.status.value:
                    seen.append(task.status.value)
                if task.status == TaskState.EXECUTE_SUCCESS:
                    return task
                if task.status not in (TaskState.WAITING, TaskState.RUNNING):
                    raise SmokeFailure(
                        f"task {task.job_id} ended {task.status.value}: {task.code} {task.message}"
                    )
            return None

        task = eventually("the policy's task to reach EXECUTE_SUCCESS", finished)
        check(task.backup_name.startswith("autobk_"), f"task backup name {task.backup_name!r}")
        check(
            isinstance(task.finished_at, str) and task.finished_at != "", f"finished_at {task.finished_at!r}"
        )
        passed(f"task {task.job_id} {' -> '.join(seen)} ({task.backup_name})")

        # 7. The backup it made, found in the native list and read through the v3 API.
        listed = expect(
            list_native_backups_detail.sync_detailed(project, client=client, volume_id=volume, limit=1000),
            HTTPStatus.OK,
            BackupDetailListResponse,
            "list backups (detail)",
        )
        mine = [b for b in listed.backups if b.name == task.backup_name]
        check(len(mine) == 1, f"{len(mine)} backups named {task.backup_name} for volume {volume}")
        backup = show_backup(client, project, mine[0].id)
        check(backup.status == "available", f"backup {backup.id} is {backup.status}")
        check(backup.volume_id == volume, f"backup {backup.id} is of volume {backup.volume_id}")
        check(
            backup.os_backup_project_attrproject_id == project,
            f"backup project {backup.os_backup_project_attrproject_id}",
        )
        passed(f"backup {backup.id} of the task is available")

        # 8. A native backup of the snapshot.
        accepted = expect(
            create_native_backup.sync_detailed(
                project,
                client=client,
                body=CreateNativeBackupRequest(
                    backup=NativeBackupInput(
                        volume_id=volume,
                        snapshot_id=snapshot,
                        name="client_smoke_manual",
                        description="generated client smoke test",
                    )
                ),
            ),
            HTTPStatus.ACCEPTED,
            BackupCreatedResponse,
            "create a native backup",
        )
        manual_id = accepted.backup.id
        check(accepted.backup.name == "client_smoke_manual", f"created backup name {accepted.backup.name!r}")
        check(any(link.rel == "self" for link in accepted.backup.links), "created backup has no self link")
        passed(f"native backup {manual_id} of snapshot {snapshot} accepted")

        # 9. It becomes available.
        manual = wait_available(client, project, manual_id)
        check(manual.snapshot_id == snapshot, f"native backup snapshot_id {manual.snapshot_id!r}")
        check(manual.volume_id == volume, f"native backup is of volume {manual.volume_id}")
        passed(f"native backup {manual_id} is available")

        # 10. Delete the policy (its backups are kept).
        expect(
            delete_backup_policy.sync_detailed(project, policy_id, client=client),
            HTTPStatus.NO_CONTENT,
            None,
            "delete the backup policy",
        )
        show_backup(client, project, backup.id)
        passed(f"deleted policy {policy_id}; its backup {backup.id} is kept")

    print(f"client smoke: {steps} steps passed", flush=True)
    return 0


def main() -> int:
    try:
        return run()
    except SmokeFailure as e:
        print(f"client smoke FAILED after {steps} steps: {e}", file=sys.stderr, flush=True)
        return 1
    except Exception as e:  # noqa: BLE001 — any client or transport error fails the smoke test
        traceback.print_exc()
        print(
            f"client smoke FAILED after {steps} steps: {type(e).__name__}: {e}", file=sys.stderr, flush=True
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
