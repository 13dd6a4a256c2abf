"""The stock Python clients against VBS, with their default arguments, as a tenant and an admin
use them: otcextensions (the VBS policy API), openstacksdk's block-storage proxy and
cinderclient's `cinder` shell (the native backup API). Run by tests/e2e/tests/keystone.rs
(`stock_python_clients_with_their_defaults`) with the venv of scripts/keystone.sh.

Environment: OS_CLIENT_CONFIG_FILE (a clouds.yaml with clouds `member`, `reader` and `admin`),
VBS_VOLUME (a volume of the member's project), VBS_TARGET (another, as large), VBS_REPORT (where
to write every HTTP call: client, step, method, path, status, microversion). Each step checks
what it got; the Rust test checks the volumes' bytes and the report.
"""

import json
import os
import sys
import time
import warnings
from contextlib import contextmanager

import openstack
import requests
from cinderclient import shell as cinder_shell
from openstack import exceptions
from otcextensions import sdk as otc

warnings.filterwarnings("ignore")

CALLS = []
CURRENT = {"client": "setup", "step": "setup"}
_send = requests.Session.send


def _recording_send(session, request, **kwargs):
    response = _send(session, request, **kwargs)
    path = requests.utils.urlparse(request.url).path
    if any(r in path for r in ("/backuppolicy", "/backups", "/volumes", "/jobs")):
        CALLS.append({
            "client": CURRENT["client"],
            "step": CURRENT["step"],
            "method": request.method,
            "path": path,
            "status": response.status_code,
            "microversion": request.headers.get("OpenStack-API-Version"),
        })
    return response


requests.Session.send = _recording_send


@contextmanager
def step(client, name):
    CURRENT.update(client=client, step=name)
    print(f"{client}: {name}", flush=True)
    yield


def wait(what, check, timeout=180):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def refused(status, fn):
    """Runs fn, which the server must refuse with `status`."""
    try:
        fn()
    except exceptions.HttpException as e:
        assert e.status_code == status, f"expected {status}, got {e.status_code}: {e}"
        return
    raise AssertionError(f"expected {status}, the call succeeded")


VOLUME = os.environ["VBS_VOLUME"]
TARGET = os.environ["VBS_TARGET"]
member = openstack.connect(cloud="member")
reader = openstack.connect(cloud="reader")
admin = openstack.connect(cloud="admin")
for conn in (member, reader):
    otc.register_otc_extensions(conn)


def backup_status(conn, backup_id):
    return conn.block_storage.get_backup(backup_id).status


def otcextensions_policy_api():
    vbs = member.volume_backup
    with step("otcextensions", "create policy"):
        policy = vbs.create_backup_policy(
            name="stock-policy",
            scheduled_policy={"start_time": "03:00", "frequency": 1, "rentention_num": 2,
                              "remain_first_backup_of_curMonth": "N", "status": "ON"},
        )
    with step("otcextensions", "list policies"):
        assert any(p.id == policy.id for p in vbs.backup_policies())
    with step("otcextensions", "update, disable and enable"):
        vbs.update_backup_policy(policy, name="stock-renamed")
        vbs.disable_policy(policy)
        vbs.enable_policy(policy)
    with step("otcextensions", "link a volume"):
        linked = vbs.link_resources_to_policy(policy, [VOLUME])
        assert [r.resource_id for r in linked.success_resources] == [VOLUME], linked
    with step("otcextensions", "execute"):
        vbs.execute_policy(policy)
    with step("otcextensions", "the task until it succeeds"):
        # (`tasks()` cannot work with any server: otcextensions puts its query in base_path.)
        session = vbs

        def done():
            r = session.get(f"/backuppolicy/{policy.id}/backuptasks")
            tasks = r.json().get("tasks", [])
            return tasks and all(t["status"] == "EXECUTE_SUCCESS" for t in tasks)

        wait("the policy's task", done)
    with step("otcextensions", "a reader may not execute"):
        # (otcextensions hands back the response of an execute without raising.)
        response = reader.volume_backup.execute_policy(policy.id)
        assert response.status_code == 403, response.status_code
    with step("otcextensions", "unlink and delete"):
        vbs.unlink_resources_of_policy(policy, [VOLUME])
        vbs.delete_backup_policy(policy)
    # (`find_backup_policy` cannot work with any server: otcextensions refuses fetch client-side.)
    with step("openstacksdk", "clean up the policy's backup"):
        for b in member.block_storage.backups():
            member.block_storage.delete_backup(b)
        wait("the policy's backups to go", lambda: not list(member.block_storage.backups()))


def openstacksdk_backup_api():
    bs = member.block_storage
    with step("openstacksdk", "create a backup (no snapshot)"):
        backup = bs.create_backup(volume_id=VOLUME, name="sdk-backup")
        wait("the backup", lambda: backup_status(member, backup.id) == "available")
    with step("openstacksdk", "list, list detail, find"):
        assert [b.id for b in bs.backups(details=False)] == [backup.id]
        assert [b.name for b in bs.backups(name="sdk-backup")] == ["sdk-backup"]
        assert bs.find_backup("sdk-backup").id == backup.id
    with step("openstacksdk", "update"):
        bs.update_backup(backup, description="sdk-described")
        assert bs.get_backup(backup.id).description == "sdk-described"
    with step("openstacksdk", "metadata set, fetch, delete"):
        bs.set_backup_metadata(backup, env="prod", team="vbs")
        assert bs.fetch_backup_metadata(backup).metadata == {"env": "prod", "team": "vbs"}
        bs.delete_backup_metadata(backup, keys=["team"])
        assert bs.fetch_backup_metadata(backup).metadata == {"env": "prod"}
    with step("openstacksdk", "restore into a new volume"):
        restored = bs.restore_backup(backup, name="sdk-restored")
        assert restored.volume_id and restored.volume_id != VOLUME, restored
        wait("the restore", lambda: backup_status(member, backup.id) == "available")
        new = bs.get_volume(restored.volume_id)
        assert new.name == "sdk-restored", new
    with step("openstacksdk", "restore into the target"):
        bs.restore_backup(backup, volume=TARGET)
        wait("the restore", lambda: backup_status(member, backup.id) == "available")
    with step("openstacksdk", "a reader reads and may not change"):
        assert reader.block_storage.get_backup(backup.id).name == "sdk-backup"
        refused(403, lambda: reader.block_storage.create_backup(volume_id=VOLUME))
        refused(403, lambda: reader.block_storage.delete_backup(backup.id))
        refused(403, lambda: reader.block_storage.set_backup_metadata(backup.id, k="v"))
    with step("openstacksdk", "a member may not use the admin calls"):
        refused(403, lambda: bs.reset_backup_status(backup, "error"))
        refused(403, lambda: bs.export_backup(backup))
        refused(403, lambda: bs.delete_backup(backup, force=True))
    with step("openstacksdk", "admin: reset status, export, force delete"):
        # An admin of its own project, on the member's backup.
        abs_ = admin.block_storage
        abs_.reset_backup_status(backup.id, "error")
        assert backup_status(member, backup.id) == "error"
        abs_.reset_backup_status(backup.id, "available")
        record = abs_.export_backup(backup.id)
        assert record["backup-record"]["backup_service"] == "vbs.backup_engine", record
        # (`import_backup` cannot work with any server: openstacksdk posts it to
        # …/backups/export_record; cinderclient's import is below.)
        abs_.delete_backup(backup.id, force=True)
        wait("the forced deletion", lambda: not list(bs.backups()))
    with step("openstacksdk", "create and delete"):
        second = bs.create_backup(volume_id=VOLUME, name="sdk-second")
        wait("the second backup", lambda: backup_status(member, second.id) == "available")
        bs.delete_backup(second)
        wait("its deletion", lambda: not list(bs.backups()))
    return restored.volume_id


def cinder(cloud, *args):
    """`cinder <args>` in-process with OS_* variables for `cloud`, as a shell user runs it."""
    auth = openstack.config.OpenStackConfig().get_one(cloud=cloud).config["auth"]
    env = {
        "OS_AUTH_URL": auth["auth_url"],
        "OS_USERNAME": auth["username"],
        "OS_PASSWORD": auth["password"],
        "OS_PROJECT_ID": auth["project_id"],
        "OS_USER_DOMAIN_NAME": "Default",
        "OS_REGION_NAME": os.environ["VBS_REGION"],
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    from io import StringIO
    out, real = StringIO(), sys.stdout
    sys.stdout = out
    argv, sys.argv = sys.argv, ["cinder", *args]
    try:
        cinder_shell.main()
        code = 0
    except SystemExit as e:
        code = e.code or 0
    finally:
        sys.stdout, sys.argv = real, argv
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return code, out.getvalue()


def cinder_ok(cloud, *args):
    code, out = cinder(cloud, *args)
    assert code == 0, f"cinder {' '.join(args)}: exit {code}\n{out}"
    return out


def cinder_field(out, name):
    for line in out.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 2 and cells[0] == name:
            return cells[1]
    raise AssertionError(f"{name} not in\n{out}")


def cinderclient_shell():
    with step("cinderclient", "backup-create"):
        backup = cinder_field(cinder_ok("member", "backup-create", "--name", "cli-backup", VOLUME), "id")
        wait("the backup", lambda: backup_status(member, backup) == "available")
    with step("cinderclient", "backup-list, backup-show"):
        assert backup in cinder_ok("member", "backup-list")
        assert cinder_field(cinder_ok("member", "backup-show", backup), "status") == "available"
    with step("cinderclient", "backup-update"):
        cinder_ok("member", "backup-update", "--description", "cli-described", backup)
        assert member.block_storage.get_backup(backup).description == "cli-described"
    with step("cinderclient", "backup-restore into a new volume"):
        out = cinder_ok("member", "backup-restore", backup)
        new = cinder_field(out, "volume_id")
        assert cinder_field(out, "volume_name") == f"restore_backup_{backup}", out
        wait("the restore", lambda: backup_status(member, backup) == "available")
    with step("cinderclient", "backup-restore --volume"):
        cinder_ok("member", "backup-restore", "--volume", TARGET, backup)
        wait("the restore", lambda: backup_status(member, backup) == "available")
    with step("cinderclient", "a reader may not change, a member may not use the admin calls"):
        for cloud, args in [
            ("reader", ("backup-create", VOLUME)),
            ("reader", ("backup-delete", backup)),
            ("member", ("backup-reset-state", "--state", "error", backup)),
            ("member", ("backup-export", backup)),
            ("member", ("backup-delete", "--force", backup)),
        ]:
            code, out = cinder(cloud, *args)
            assert code != 0, f"{cloud} cinder {' '.join(args)} succeeded"
    with step("cinderclient", "admin: backup-reset-state, backup-export, backup-import of an existing backup"):
        cinder_ok("admin", "backup-reset-state", "--state", "error", backup)
        assert backup_status(member, backup) == "error"
        cinder_ok("admin", "backup-reset-state", "--state", "available", backup)
        out = cinder_ok("admin", "backup-export", backup)
        service, url = cinder_field(out, "backup_service"), cinder_field(out, "backup_url")
        code, _ = cinder("admin", "backup-import", service, url)
        assert code != 0, "importing a backup that exists must be refused"
    with step("cinderclient", "backup-delete --force"):
        cinder_ok("admin", "backup-delete", "--force", backup)
        wait("the forced deletion", lambda: not list(member.block_storage.backups()))
    with step("cinderclient", "backup-create, backup-delete"):
        second = cinder_field(cinder_ok("member", "backup-create", VOLUME), "id")
        wait("the second backup", lambda: backup_status(member, second) == "available")
        cinder_ok("member", "backup-delete", second)
        wait("its deletion", lambda: not list(member.block_storage.backups()))
    return new


otcextensions_policy_api()
sdk_volume = openstacksdk_backup_api()
cinder_volume = cinderclient_shell()
with open(os.environ["VBS_REPORT"], "w") as f:
    json.dump({"calls": CALLS, "sdk_volume": sdk_volume, "cinder_volume": cinder_volume}, f, indent=1)
print(f"{len(CALLS)} calls recorded", flush=True)
