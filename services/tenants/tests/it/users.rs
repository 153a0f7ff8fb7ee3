use std::collections::HashSet;

use proto::tenants as pb;
use tonic::Code;

use crate::helpers::*;

fn mask(paths: &[&str]) -> Option<prost_types::FieldMask> {
    Some(prost_types::FieldMask {
        paths: paths.iter().map(|p| (*p).to_owned()).collect(),
    })
}

#[tokio::test]
async fn admin_manages_users_with_paging_filters_and_masks() {
    let svc = tenants::testing::spawn().await;
    let mut c = clients(&svc).await;
    let f = provision(&svc, &mut c, "users").await;
    let manager = create_user(
        &mut c,
        &f.admin_token,
        &format!("mgr@{}.test", f.slug),
        pb::Role::Manager,
        "",
    )
    .await;
    let mut reps = Vec::new();
    for i in 0..5 {
        reps.push(
            create_user(
                &mut c,
                &f.admin_token,
                &format!("rep{i}@{}.test", f.slug),
                pb::Role::SalesRep,
                &manager.id,
            )
            .await,
        );
    }
    assert!(reps.iter().all(|r| r.manager_id == manager.id));

    // Paging through the reps two at a time visits each exactly once.
    let mut seen = HashSet::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let page = c
            .users
            .list_users(authed(
                &f.admin_token,
                pb::ListUsersRequest {
                    page_size: 2,
                    page_token: token.clone(),
                    filter: "role = ROLE_SALES_REP".into(),
                    order_by: "email desc".into(),
                },
            ))
            .await
            .expect("page")
            .into_inner();
        pages += 1;
        for u in &page.users {
            assert_eq!(u.role, pb::Role::SalesRep as i32);
            assert!(seen.insert(u.id.clone()), "duplicate across pages");
        }
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!((seen.len(), pages), (5, 3));

    // A page token belongs to its query.
    let first = c
        .users
        .list_users(authed(
            &f.admin_token,
            pb::ListUsersRequest {
                page_size: 2,
                filter: "role = ROLE_SALES_REP".into(),
                ..Default::default()
            },
        ))
        .await
        .expect("page")
        .into_inner();
    let other_query = c
        .users
        .list_users(authed(
            &f.admin_token,
            pb::ListUsersRequest {
                page_size: 2,
                page_token: first.next_page_token,
                filter: "active = true".into(),
                ..Default::default()
            },
        ))
        .await
        .expect_err("token of another query");
    assert_invalid(&other_query, &["page_token"]);

    // Update with a field mask changes only the named fields.
    let updated = c
        .users
        .update_user(authed(
            &f.admin_token,
            pb::UpdateUserRequest {
                user: Some(pb::User {
                    id: reps[0].id.clone(),
                    display_name: "Renamed Rep".into(),
                    email: "ignored@x.test".into(),
                    ..Default::default()
                }),
                update_mask: mask(&["display_name"]),
            },
        ))
        .await
        .expect("update")
        .into_inner();
    assert_eq!(updated.display_name, "Renamed Rep");
    assert_eq!(updated.email, reps[0].email);

    // Deactivation: no login any more, filtered as inactive.
    let deactivated = c
        .users
        .deactivate_user(authed(
            &f.admin_token,
            pb::DeactivateUserRequest {
                id: reps[1].id.clone(),
            },
        ))
        .await
        .expect("deactivate")
        .into_inner();
    assert!(!deactivated.active);
    login(&mut c, &f.slug, &reps[1].email, PASSWORD)
        .await
        .expect_err("deactivated user cannot log in");
    let inactive = c
        .users
        .list_users(authed(
            &f.admin_token,
            pb::ListUsersRequest {
                filter: "active = false".into(),
                ..Default::default()
            },
        ))
        .await
        .expect("list")
        .into_inner();
    assert_eq!(
        inactive
            .users
            .iter()
            .map(|u| u.id.clone())
            .collect::<Vec<_>>(),
        vec![reps[1].id.clone()]
    );

    // Duplicate email in the tenant, any case.
    let dup = c
        .users
        .create_user(authed(
            &f.admin_token,
            pb::CreateUserRequest {
                email: reps[2].email.to_uppercase(),
                password: PASSWORD.into(),
                display_name: "Dup".into(),
                role: pb::Role::Support as i32,
                ..Default::default()
            },
        ))
        .await
        .expect_err("duplicate");
    assert_eq!(dup.code(), Code::AlreadyExists);
}

#[tokio::test]
async fn permissions_follow_roles_and_custom_roles() {
    let svc = tenants::testing::spawn().await;
    let mut c = clients(&svc).await;
    let f = provision(&svc, &mut c, "perms").await;
    let rep = create_user(
        &mut c,
        &f.admin_token,
        &format!("rep@{}.test", f.slug),
        pb::Role::SalesRep,
        "",
    )
    .await;
    let rep_token = login(&mut c, &f.slug, &rep.email, PASSWORD)
        .await
        .expect("login")
        .access_token;

    let denied = c
        .users
        .list_users(authed(&rep_token, pb::ListUsersRequest::default()))
        .await
        .expect_err("rep cannot list");
    assert_eq!(denied.code(), Code::PermissionDenied);
    assert!(
        denied.message().contains("users.read"),
        "{}",
        denied.message()
    );
    let denied = c
        .users
        .create_user(authed(
            &rep_token,
            pb::CreateUserRequest {
                email: "x@perms.test".into(),
                password: PASSWORD.into(),
                display_name: "X".into(),
                role: 3,
                ..Default::default()
            },
        ))
        .await
        .expect_err("rep cannot create");
    assert_eq!(denied.code(), Code::PermissionDenied);
    // Everyone reads themselves.
    c.users
        .get_user(authed(
            &rep_token,
            pb::GetUserRequest { id: rep.id.clone() },
        ))
        .await
        .expect("self read");

    // A custom role grants users.read on top of sales_rep.
    let role = c
        .roles
        .create_role(authed(
            &f.admin_token,
            pb::CreateRoleRequest {
                role: Some(pb::CustomRole {
                    name: "Directory".into(),
                    permissions: vec!["users.read".into()],
                    ..Default::default()
                }),
            },
        ))
        .await
        .expect("role")
        .into_inner();
    c.users
        .update_user(authed(
            &f.admin_token,
            pb::UpdateUserRequest {
                user: Some(pb::User {
                    id: rep.id.clone(),
                    custom_role_ids: vec![role.id.clone()],
                    ..Default::default()
                }),
                update_mask: mask(&["custom_role_ids"]),
            },
        ))
        .await
        .expect("grant role");
    let rep_token = login(&mut c, &f.slug, &rep.email, PASSWORD)
        .await
        .expect("login")
        .access_token;
    c.users
        .list_users(authed(&rep_token, pb::ListUsersRequest::default()))
        .await
        .expect("custom role grants users.read");

    let perms = c
        .roles
        .list_permissions(authed(&rep_token, pb::ListPermissionsRequest {}))
        .await
        .expect("catalogue")
        .into_inner();
    assert!(
        perms
            .permissions
            .iter()
            .any(|p| p.name == "users.write" && p.built_in_roles == vec!["ROLE_ADMIN".to_owned()])
    );

    let dup = c
        .roles
        .create_role(authed(
            &f.admin_token,
            pb::CreateRoleRequest {
                role: Some(pb::CustomRole {
                    name: "directory".into(),
                    ..Default::default()
                }),
            },
        ))
        .await
        .expect_err("duplicate name");
    assert_eq!(dup.code(), Code::AlreadyExists);
    c.roles
        .delete_role(authed(
            &f.admin_token,
            pb::DeleteRoleRequest {
                id: role.id.clone(),
            },
        ))
        .await
        .expect("delete");
    let user = c
        .users
        .get_user(authed(&f.admin_token, pb::GetUserRequest { id: rep.id }))
        .await
        .expect("get")
        .into_inner();
    assert!(
        user.custom_role_ids.is_empty(),
        "deleting a role removes it from users"
    );
}

#[tokio::test]
async fn the_last_admin_cannot_be_removed_and_hierarchies_stay_acyclic() {
    let svc = tenants::testing::spawn().await;
    let mut c = clients(&svc).await;
    let f = provision(&svc, &mut c, "lastadm").await;
    let status = c
        .users
        .deactivate_user(authed(
            &f.admin_token,
            pb::DeactivateUserRequest {
                id: f.admin.id.clone(),
            },
        ))
        .await
        .expect_err("last admin");
    assert_eq!(status.code(), Code::FailedPrecondition);
    let status = c
        .users
        .update_user(authed(
            &f.admin_token,
            pb::UpdateUserRequest {
                user: Some(pb::User {
                    id: f.admin.id.clone(),
                    role: pb::Role::SalesRep as i32,
                    ..Default::default()
                }),
                update_mask: mask(&["role"]),
            },
        ))
        .await
        .expect_err("last admin demotion");
    assert_eq!(status.code(), Code::FailedPrecondition);

    let m = create_user(
        &mut c,
        &f.admin_token,
        &format!("m@{}.test", f.slug),
        pb::Role::Manager,
        "",
    )
    .await;
    let r = create_user(
        &mut c,
        &f.admin_token,
        &format!("r@{}.test", f.slug),
        pb::Role::SalesRep,
        &m.id,
    )
    .await;
    let status = c
        .users
        .update_user(authed(
            &f.admin_token,
            pb::UpdateUserRequest {
                user: Some(pb::User {
                    id: m.id.clone(),
                    manager_id: r.id.clone(),
                    ..Default::default()
                }),
                update_mask: mask(&["manager_id"]),
            },
        ))
        .await
        .expect_err("cycle");
    assert_invalid(&status, &["user.manager_id"]);
}

/// The ids ListUsers returns for `filter`, sorted.
async fn filtered(c: &mut Clients, token: &str, filter: &str) -> Vec<String> {
    let mut ids: Vec<String> = c
        .users
        .list_users(authed(
            token,
            pb::ListUsersRequest {
                filter: filter.to_owned(),
                ..Default::default()
            },
        ))
        .await
        .unwrap_or_else(|status| panic!("{filter}: {status:?}"))
        .into_inner()
        .users
        .into_iter()
        .map(|u| u.id)
        .collect();
    ids.sort();
    ids
}

fn sorted(ids: &[&str]) -> Vec<String> {
    let mut ids: Vec<String> = ids.iter().map(|id| (*id).to_owned()).collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn user_filters_combine_with_or_not_and_parentheses() {
    let svc = tenants::testing::spawn().await;
    let mut c = clients(&svc).await;
    let f = provision(&svc, &mut c, "userfilter").await;
    let token = f.admin_token.clone();
    let manager = create_user(
        &mut c,
        &token,
        &format!("mgr@{}.test", f.slug),
        pb::Role::Manager,
        "",
    )
    .await;
    let rep = create_user(
        &mut c,
        &token,
        &format!("rep@{}.test", f.slug),
        pb::Role::SalesRep,
        &manager.id,
    )
    .await;
    let support = create_user(
        &mut c,
        &token,
        &format!("help@{}.test", f.slug),
        pb::Role::Support,
        &manager.id,
    )
    .await;
    let admin = f.admin.id.as_str();
    assert_eq!(
        filtered(&mut c, &token, "role = ROLE_ADMIN").await,
        sorted(&[admin])
    );

    assert_eq!(
        filtered(
            &mut c,
            &token,
            &format!(r#"role = ROLE_MANAGER OR manager_id = "{}""#, manager.id)
        )
        .await,
        sorted(&[&manager.id, &rep.id, &support.id])
    );
    assert_eq!(
        filtered(&mut c, &token, "NOT role = ROLE_SALES_REP").await,
        sorted(&[admin, &manager.id, &support.id])
    );
    assert_eq!(
        filtered(
            &mut c,
            &token,
            r#"(role = ROLE_SUPPORT OR role = ROLE_MANAGER) AND NOT manager_id = """#
        )
        .await,
        sorted(&[&support.id])
    );
    assert_eq!(
        filtered(
            &mut c,
            &token,
            r#"-(email : "mgr@" OR email : "rep@") AND active = true"#
        )
        .await,
        sorted(&[admin, &support.id])
    );
}
