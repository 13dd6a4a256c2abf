//! The native API end to end: backups through the worker, byte-identical restores,
//! incrementals that store only what changed, deletions that leave every other backup
//! restorable, and the list's filters and paging.

use serde_json::{Value, json};

use crate::helpers::{MIB, Rng, assert_fault, make_image, sha256, sha256_file, spawn_app, spawn_app_with};

fn metadata(b: &Value) -> Value {
    serde_json::from_str(b["service_metadata"].as_str().unwrap()).unwrap()
}

fn is_native_time(v: &Value) -> bool {
    let s = v.as_str().unwrap_or_default();
    // 2013-06-27T08:48:03.000000: microseconds, no zone.
    s.len() == 26
        && s.as_bytes()[10] == b'T'
        && s.as_bytes()[19] == b'.'
        && s[20..].bytes().all(|b| b.is_ascii_digit())
}

/// What openstackclient and cinderclient send by default: no snapshot. The worker takes one
/// (or reads the live volume, recording that the backup is only crash-consistent).
#[tokio::test]
async fn a_backup_without_a_snapshot_takes_its_own() {
    let app = spawn_app().await;
    let img = make_image(3 * MIB + 5, 3);
    let volume = app.volume_with(&img);
    let res = app
        .post(
            "/backups",
            &json!({"backup": {"volume_id": volume, "name": "cli", "description": null, "container": null,
                "force": false, "incremental": false, "snapshot_id": null}}),
        )
        .await;
    assert_eq!(res.status(), 202, "{:?}", res.text().await);
    let created: Value = res.json().await.unwrap();
    let id = created["backup"]["id"].as_str().unwrap().to_owned();
    let b = app.wait_backup(&id, "available").await;
    assert_eq!(b["snapshot_id"], Value::Null);
    let reflinked = !metadata(&b)["crash_consistent"].as_bool().unwrap();
    // A reflink copy on btrfs/XFS, the live volume elsewhere: either way the data is the volume's.
    let target = app.empty_volume(img.len() as u64);
    app.restore(&id, &target).await;
    assert_eq!(sha256_file(&app.disk(&target)), sha256(&img), "reflinked: {reflinked}");
}

#[tokio::test]
async fn create_show_and_restore_byte_for_byte() {
    let app = spawn_app().await;
    // Not a multiple of the 64 KiB block, mixing random, zero, text and duplicated regions.
    let img = make_image(5 * MIB + 12_345, 1);
    let volume = app.volume_with(&img);
    let snapshot = app.snapshot(&volume);
    let res = app
        .post(
            "/backups",
            &json!({"backup": {"volume_id": volume, "snapshot_id": snapshot, "name": "backup1",
                "description": "Backup_Demo", "container": "ignored", "incremental": true}}),
        )
        .await;
    assert_eq!(res.status(), 202);
    let created: Value = res.json().await.unwrap();
    let id = created["backup"]["id"].as_str().unwrap().to_owned();
    assert_eq!(created["backup"]["name"], "backup1");
    let links = created["backup"]["links"].as_array().unwrap();
    assert_eq!(links[0]["rel"], "self");
    assert!(links[0]["href"].as_str().unwrap().ends_with(&format!("/v2/{}/backups/{id}", app.project)));
    assert_eq!(links[1]["rel"], "bookmark");
    assert!(links[1]["href"].as_str().unwrap().ends_with(&format!("/{}/backups/{id}", app.project)));

    let b = app.wait_backup(&id, "available").await;
    assert_eq!(b["id"], id.as_str());
    assert_eq!(b["volume_id"], volume.as_str());
    assert_eq!(b["snapshot_id"], snapshot.as_str());
    assert_eq!(b["name"], "backup1");
    assert_eq!(b["description"], "Backup_Demo");
    assert_eq!(b["size"], 1, "GiB, rounded up");
    assert!(b["object_count"].as_i64().unwrap() >= 2, "a pack and the manifest at least: {b}");
    assert_eq!(b["is_incremental"], false);
    assert_eq!(b["has_dependent_backups"], false);
    assert_eq!(b["fail_reason"], Value::Null);
    assert_eq!(b["availability_zone"], "az-test");
    for key in [
        "os-backup-project-attr:tenant_id",
        "os-backup-project-attr:project_id",
        "os-bak-tenant-attr:tenant_id",
    ] {
        assert_eq!(b[key], app.project.as_str(), "{key}");
    }
    for key in ["created_at", "updated_at", "data_timestamp"] {
        assert!(is_native_time(&b[key]), "{key}: {}", b[key]);
    }
    let m = metadata(&b);
    assert_eq!(m["progress"], "100");
    assert_eq!(m["Type"], 1, "full");
    assert_eq!(m["bytes_total"], img.len());
    assert_eq!(m["crash_consistent"], false);
    // The same backup at the other two paths (under /v3 at 3.0, as here, without the metadata
    // 3.43 adds; the vendor's /v2 has no microversions and shows it), its links into the API
    // each was asked through.
    assert!(b.get("metadata").is_none(), "{b}");
    let without_links = |v: &Value| {
        let mut v = v.clone();
        v.as_object_mut().unwrap().remove("links");
        v
    };
    let v: Value = app.get_url(&app.url_v("v3", &format!("/backups/{id}"))).await.json().await.unwrap();
    assert_eq!(without_links(&v["backup"]), without_links(&b));
    assert!(
        v["backup"]["links"][0]["href"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/v3/{}/backups/{id}", app.project))
    );
    let mut v2: Value = app.get_url(&app.url_v("v2", &format!("/backups/{id}"))).await.json().await.unwrap();
    assert_eq!(v2["backup"]["metadata"], json!({}));
    v2["backup"].as_object_mut().unwrap().remove("metadata");
    assert_eq!(without_links(&v2["backup"]), without_links(&b));
    assert!(
        v2["backup"]["links"][0]["href"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/v2/{}/backups/{id}", app.project))
    );

    // Into a larger empty volume: the image, then zeros.
    let target = app.empty_volume(6 * MIB as u64);
    let res = app
        .post_url(
            &app.url_v("v3", &format!("/native/backups/{id}/restore")),
            &json!({"restore": {"volume_id": target}}),
        )
        .await;
    assert_eq!(res.status(), 202);
    let r: Value = res.json().await.unwrap();
    assert_eq!(r, json!({"restore": {"backup_id": id, "volume_id": target, "volume_name": "target"}}));
    app.wait_backup(&id, "available").await;
    let restored = std::fs::read(app.disk(&target)).unwrap();
    assert_eq!(restored.len(), 6 * MIB);
    assert_eq!(sha256(&restored[..img.len()]), sha256(&img));
    assert!(restored[img.len()..].iter().all(|b| *b == 0));

    // Over a volume full of other data of exactly the size: every old byte is replaced.
    let mut junk = vec![0u8; img.len()];
    Rng(99).fill(&mut junk);
    let dirty = app.volume_with(&junk);
    app.restore(&id, &dirty).await;
    assert_eq!(sha256_file(&app.disk(&dirty)), sha256(&img));
}

#[tokio::test]
async fn an_incremental_stores_only_the_changed_blocks() {
    let app = spawn_app().await;
    let mut img = make_image(4 * MIB + 777, 2);
    let volume = app.volume_with(&img);
    let full = app.backup_available(&volume, "day1").await;
    let full_stored = metadata(&full)["stored_bytes"].as_i64().unwrap();

    // Three 64 KiB blocks change (one of them the short last block).
    let mut rng = Rng(3);
    for start in [0, 2 * MIB, img.len() - 500] {
        let end = (start + 300).min(img.len());
        rng.fill(&mut img[start..end]);
    }
    app.write_volume(&volume, &img);
    let incr = app.backup_available(&volume, "day2").await;
    assert_eq!(incr["is_incremental"], true);
    assert_eq!(metadata(&incr)["Type"], 0);
    let incr_stored = metadata(&incr)["stored_bytes"].as_i64().unwrap();
    // At most three blocks of payload plus the manifest (a few KB for 65 entries).
    assert!(incr_stored < 3 * 65_536 + 16_384, "incremental stored {incr_stored} bytes");
    assert!(incr_stored * 10 < full_stored, "full {full_stored}, incremental {incr_stored}");
    assert_eq!(incr["object_count"], 2, "one pack and one manifest");

    let day1 = make_image(4 * MIB + 777, 2);
    for (id, expected) in [(full["id"].as_str().unwrap(), &day1), (incr["id"].as_str().unwrap(), &img)] {
        let target = app.empty_volume(expected.len() as u64);
        app.restore(id, &target).await;
        assert_eq!(sha256_file(&app.disk(&target)), sha256(expected), "{id}");
    }
}

#[tokio::test]
async fn deleting_any_backup_leaves_every_other_restorable_and_gc_frees_only_the_dead() {
    let app = spawn_app().await;
    let len = 3 * MIB + 4321;
    let mut versions = vec![make_image(len, 10)];
    let volume = app.volume_with(&versions[0]);
    let mut ids = vec![app.backup_available(&volume, "v1").await["id"].as_str().unwrap().to_owned()];
    for (i, seed) in [(1usize, 11u64), (2, 12)] {
        let mut next = versions[i - 1].clone();
        // Rewrite the middle third each time: each version owns those blocks alone.
        Rng(seed).fill(&mut next[MIB..2 * MIB]);
        app.write_volume(&volume, &next);
        versions.push(next);
        ids.push(
            app.backup_available(&volume, &format!("v{}", i + 1)).await["id"].as_str().unwrap().to_owned(),
        );
    }
    let maintenance = app.maintenance.clone().unwrap();
    let usage = || async { app.engine.usage(&app.project).await.unwrap() };
    let before = usage().await;

    // Delete the middle one: the others still restore; its own blocks are freed by GC.
    assert_eq!(app.delete(&format!("/backups/{}", ids[1])).await.status(), 202);
    app.wait_gone(&ids[1]).await;
    let reports = maintenance.gc().await.unwrap();
    assert_eq!(reports.len(), 1);
    let after = usage().await;
    assert_eq!(after.manifests, 2);
    assert!(after.pack_bytes < before.pack_bytes, "{before:?} -> {after:?}");
    for (id, data) in [(&ids[0], &versions[0]), (&ids[2], &versions[2])] {
        let target = app.empty_volume(len as u64);
        app.restore(id, &target).await;
        assert_eq!(sha256_file(&app.disk(&target)), sha256(data));
    }

    // Delete the oldest (the one the others were incremental against): the newest restores.
    assert_eq!(app.delete(&format!("/backups/{}", ids[0])).await.status(), 202);
    app.wait_gone(&ids[0]).await;
    maintenance.gc().await.unwrap();
    let target = app.empty_volume(len as u64);
    app.restore(&ids[2], &target).await;
    assert_eq!(sha256_file(&app.disk(&target)), sha256(&versions[2]));
    let verify = app.engine.verify(&app.project, &ids[2]).await.unwrap();
    assert!(verify.is_ok(), "{verify:?}");

    // And the last one: nothing left to keep.
    assert_eq!(app.delete(&format!("/backups/{}", ids[2])).await.status(), 202);
    app.wait_gone(&ids[2]).await;
    maintenance.gc().await.unwrap();
    let empty = usage().await;
    assert_eq!((empty.manifests, empty.packs), (0, 0), "{empty:?}");
}

#[tokio::test]
async fn lists_filter_page_and_sort() {
    let app = spawn_app().await;
    let a = app.volume_with(&make_image(MIB, 20));
    let b = app.volume_with(&make_image(MIB, 21));
    let mut ids = Vec::new();
    for (v, name) in [(&a, "a1"), (&b, "b1"), (&a, "a2"), (&b, "b2"), (&a, "a3")] {
        ids.push(app.backup_available(v, name).await["id"].as_str().unwrap().to_owned());
    }
    let names = |v: &Value| -> Vec<String> {
        v["backups"].as_array().unwrap().iter().map(|b| b["name"].as_str().unwrap().to_owned()).collect()
    };

    let all: Value = app.get("/backups").await.json().await.unwrap();
    assert_eq!(names(&all), ["a3", "b2", "a2", "b1", "a1"], "newest first");
    assert!(all.get("backups_links").is_none());
    assert_eq!(all["backups"][0].as_object().unwrap().len(), 3, "id, links, name");

    let detail: Value = app.get(&format!("/backups/detail?volume_id={a}")).await.json().await.unwrap();
    assert_eq!(names(&detail), ["a3", "a2", "a1"]);
    assert_eq!(detail["backups"][0]["status"], "available");
    let v: Value = app.get("/backups?name=b1").await.json().await.unwrap();
    assert_eq!(names(&v), ["b1"]);
    // A status no backup has, and one that is no status at all: nothing, as Cinder.
    for status in ["error", "lost"] {
        let v: Value = app.get(&format!("/backups?status={status}")).await.json().await.unwrap();
        assert_eq!(names(&v), Vec::<String>::new(), "{status}");
    }
    let v: Value = app.get("/backups?sort_dir=asc&sort_key=name").await.json().await.unwrap();
    assert_eq!(names(&v), ["a1", "a2", "a3", "b1", "b2"]);
    // cinderclient's `sort=key[:dir],…` (a key without a direction is descending).
    let v: Value = app.get("/backups?sort=name").await.json().await.unwrap();
    assert_eq!(names(&v), ["b2", "b1", "a3", "a2", "a1"]);
    let v: Value = app.get("/backups?sort=status:asc,created_at:desc").await.json().await.unwrap();
    assert_eq!(names(&v), ["a3", "b2", "a2", "b1", "a1"]);
    let v: Value = app.get("/backups/detail?sort=size,name:asc").await.json().await.unwrap();
    assert_eq!(names(&v), ["a1", "a2", "a3", "b1", "b2"], "equal sizes, then by name");
    // with_count as Python's requests sends it (`True`); under /v3 from microversion 3.45.
    for with_count in ["true", "True", "1"] {
        let v: Value =
            app.get(&format!("/backups?with_count={with_count}&limit=1")).await.json().await.unwrap();
        assert_eq!((names(&v), v["count"].clone()), (vec!["a3".to_owned()], json!(5)), "{with_count}");
    }
    let v3 = app.url_v("v3", "/backups?with_count=true&limit=1");
    let at = |version: &'static str| {
        app.client.get(&v3).header("X-Auth-Token", &app.token).header("OpenStack-API-Version", version)
    };
    let v: Value = at("volume 3.45").send().await.unwrap().json().await.unwrap();
    assert_eq!(v["count"], 5);
    let v: Value = at("volume 3.44").send().await.unwrap().json().await.unwrap();
    assert!(v.get("count").is_none(), "{v}");

    // Page by two, following the next links to the end.
    let mut url = app.url("/backups/detail?limit=2");
    let mut seen = Vec::new();
    loop {
        let page: Value = app.get_url(&url).await.json().await.unwrap();
        seen.extend(names(&page));
        match page["backups_links"].as_array() {
            Some(links) => {
                assert_eq!(links[0]["rel"], "next");
                url = links[0]["href"].as_str().unwrap().to_owned();
            }
            None => break,
        }
    }
    assert_eq!(seen, ["a3", "b2", "a2", "b1", "a1"]);
    // marker and offset.
    let v: Value = app.get(&format!("/backups?marker={}&limit=2", ids[3])).await.json().await.unwrap();
    assert_eq!(names(&v), ["a2", "b1"]);
    let v: Value = app.get("/backups?offset=3").await.json().await.unwrap();
    assert_eq!(names(&v), ["b1", "a1"]);

    for bad in [
        "limit=-1",
        "limit=abc",
        "sort_key=color",
        "sort_dir=up",
        "offset=-2",
        "sort=color",
        "sort=name:up",
        "sort=name&sort_key=id",
    ] {
        assert_fault(
            app.get(&format!("/backups?{bad}")).await,
            400,
            "badRequest",
            json!("VolumeBackup.0002"),
        )
        .await;
    }
    assert_fault(
        app.get(&format!("/backups?marker={}", uuid::Uuid::new_v4())).await,
        400,
        "badRequest",
        json!("VolumeBackup.0002"),
    )
    .await;
}

/// Pages after a marker are read from the marker's place in the order (keyset), not by loading
/// the list: following `next` links page by page gives, for every order, exactly what the whole
/// list sorted in memory (`with_count`, which reads every row) gives, with ties on every key,
/// missing and repeated names, and a marker on each kind of row.
#[tokio::test]
async fn marker_pages_follow_the_order_of_the_whole_list() {
    let app = spawn_app_with(|s| s.role = backup_service::config::Role::Api).await;
    // 40 backups: 4 created_at instants, 5 sizes, 3 statuses, names a/b/c/missing, ties in all.
    app.execute(format!(
        "INSERT INTO backups (id, project_id, volume_id, name, status, volume_bytes, size_gib, created_at, updated_at)
         SELECT gen_random_uuid()::text, '{}', gen_random_uuid()::text,
                (ARRAY['a', 'b', NULL, 'c', 'B'])[1 + i % 5],
                (ARRAY['available', 'error', 'creating'])[1 + i % 3],
                1073741824, 1 + i % 5,
                timestamp '2026-12-01' + (i % 4) * interval '1 hour',
                timestamp '2026-12-01' + (i % 7) * interval '1 minute'
         FROM generate_series(1, 40) AS i",
        app.project
    ))
    .await;
    let ids = |v: &Value| -> Vec<String> {
        v["backups"].as_array().unwrap().iter().map(|b| b["id"].as_str().unwrap().to_owned()).collect()
    };
    for order in [
        "",
        "sort_dir=asc",
        "sort_key=name&sort_dir=asc",
        "sort_key=name",
        "sort=status:asc,size:desc",
        "sort=size,name:asc,created_at",
        "sort=updated_at:asc,name",
        "sort_key=id&sort_dir=asc",
    ] {
        let whole: Value = app.get(&format!("/backups?with_count=true&{order}")).await.json().await.unwrap();
        let whole = ids(&whole);
        assert_eq!(whole.len(), 40, "{order}");
        let mut url = app.url(&format!("/backups?limit=3&{order}"));
        let mut paged = Vec::new();
        loop {
            let page: Value = app.get_url(&url).await.json().await.unwrap();
            paged.extend(ids(&page));
            match page["backups_links"][0]["href"].as_str() {
                Some(next) => url = next.to_owned(),
                None => break,
            }
        }
        assert_eq!(paged, whole, "{order}");
        // A marker and an offset after it.
        let after: Value = app
            .get(&format!("/backups?marker={}&offset=2&limit=5&{order}", whole[10]))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(ids(&after), whole[13..18], "{order}");
    }
    // A marker of another project's backup is in no list of this one.
    let other = uuid::Uuid::new_v4();
    app.execute(format!(
        "INSERT INTO backups (id, project_id, volume_id, name, status, volume_bytes, size_gib, created_at, updated_at)
         VALUES ('{other}', 'someone-else', '{other}', 'x', 'available', 1, 1, now(), now())"
    ))
    .await;
    assert_fault(
        app.get(&format!("/backups?marker={other}")).await,
        400,
        "badRequest",
        json!("VolumeBackup.0002"),
    )
    .await;
    assert_fault(app.get("/backups?marker=not-an-id").await, 400, "badRequest", json!("VolumeBackup.0002"))
        .await;
}

#[tokio::test]
async fn one_backup_per_volume_and_operations_wait_for_the_backup() {
    // The API alone: nothing runs the jobs, so the backup stays `creating`.
    let app = spawn_app_with(|s| s.role = backup_service::config::Role::Api).await;
    let volume = app.volume_with(&make_image(MIB, 30));
    let id = app.create_backup(&volume, "first").await;
    let b: Value = app.show(&id).await.json().await.unwrap();
    assert_eq!(b["backup"]["status"], "creating");
    // Nothing read yet: 0 %, not 100.
    let meta: Value = serde_json::from_str(b["backup"]["service_metadata"].as_str().unwrap()).unwrap();
    assert_eq!((meta["progress"].as_str(), meta["bytes_done"].as_i64()), (Some("0"), Some(0)));
    assert_eq!(b["backup"]["object_count"], Value::Null);

    let snapshot = app.snapshot(&volume);
    let again =
        app.post("/backups", &json!({"backup": {"volume_id": volume, "snapshot_id": snapshot}})).await;
    assert_fault(again, 400, "badRequest", json!("VolumeBackup.0013")).await;
    let cloud = app.post("/cloudbackups", &json!({"backup": {"volume_id": volume, "name": "x"}})).await;
    crate::helpers::assert_error(cloud, 400, "VolumeBackup.0013").await;
    assert_fault(app.delete(&format!("/backups/{id}")).await, 400, "badRequest", json!("VolumeBackup.0089"))
        .await;
    let other = app.empty_volume(MIB as u64);
    let restore =
        app.post(&format!("/backups/{id}/restore"), &json!({"restore": {"volume_id": other}})).await;
    assert_fault(restore, 400, "badRequest", json!("VolumeBackup.0089")).await;

    // The volume being backed up cannot be a restore target either.
    app.execute(format!("UPDATE backups SET status = 'available' WHERE id = '{id}'")).await;
    let restore =
        app.post(&format!("/backups/{id}/restore"), &json!({"restore": {"volume_id": volume}})).await;
    assert_fault(restore, 400, "badRequest", json!("VolumeBackup.0206")).await;
    // A second volume restores; then a backup of it is refused while the restore runs.
    let restore =
        app.post(&format!("/backups/{id}/restore"), &json!({"restore": {"volume_id": other}})).await;
    assert_eq!(restore.status(), 202);
    let b: Value = app.show(&id).await.json().await.unwrap();
    assert_eq!(b["backup"]["status"], "restoring");
    let snapshot = app.snapshot(&other);
    let busy = app.post("/backups", &json!({"backup": {"volume_id": other, "snapshot_id": snapshot}})).await;
    assert_fault(busy, 400, "badRequest", json!("VolumeBackup.0012")).await;
    assert_eq!(app.count("SELECT count(*) FROM jobs WHERE busy_volume IS NOT NULL").await, 2);
}

#[tokio::test]
async fn an_attached_volume_needs_force() {
    let app = spawn_app().await;
    let volume = app.volume_with(&make_image(MIB, 40));
    std::fs::write(app.disk(&volume).with_file_name("attached"), "").unwrap();
    let snapshot = app.snapshot(&volume);
    let body =
        |force: bool| json!({"backup": {"volume_id": volume, "snapshot_id": snapshot, "force": force}});
    let msg =
        assert_fault(app.post("/backups", &body(false)).await, 400, "badRequest", json!("VolumeBackup.0012"))
            .await;
    assert!(msg.contains("force"), "{msg}");
    let res = app.post("/backups", &body(true)).await;
    assert_eq!(res.status(), 202);
    let id = res.json::<Value>().await.unwrap()["backup"]["id"].as_str().unwrap().to_owned();
    let b = app.wait_backup(&id, "available").await;
    assert_eq!(b["name"], Value::Null, "the name is optional on the native API");
}
