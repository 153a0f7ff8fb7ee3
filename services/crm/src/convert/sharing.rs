//! Record shares.

use proto::crm as pb;

use super::{record_kind_to_pb, timestamp_to_pb};
use crate::domain::sharing::{Share, ShareAccess};

pub fn share_access_from_pb(raw: i32) -> Result<ShareAccess, &'static str> {
    match pb::ShareAccess::try_from(raw) {
        Ok(pb::ShareAccess::Read) => Ok(ShareAccess::Read),
        Ok(pb::ShareAccess::Edit) => Ok(ShareAccess::Edit),
        Ok(pb::ShareAccess::Unspecified) => {
            Err("is required: SHARE_ACCESS_READ or SHARE_ACCESS_EDIT")
        }
        Err(_) => Err("unknown access: SHARE_ACCESS_READ or SHARE_ACCESS_EDIT"),
    }
}

pub fn share_access_to_pb(access: ShareAccess) -> pb::ShareAccess {
    match access {
        ShareAccess::Read => pb::ShareAccess::Read,
        ShareAccess::Edit => pb::ShareAccess::Edit,
    }
}

pub fn share_to_pb(share: Share) -> pb::RecordShare {
    pb::RecordShare {
        record_type: record_kind_to_pb(share.kind) as i32,
        record_id: share.record_id.to_string(),
        user_id: share.user_id.to_string(),
        access: share_access_to_pb(share.access) as i32,
        granted_by: share.granted_by.to_string(),
        create_time: Some(timestamp_to_pb(share.created_at)),
    }
}
