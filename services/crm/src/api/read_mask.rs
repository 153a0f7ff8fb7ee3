//! AIP-157 read masks, for any response message: the mask is checked against the message's
//! descriptor and applied by clearing every field it does not name, so each Get and List only
//! says which message it returns.

use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::sync::LazyLock;

use prost::Message as _;
use prost_reflect::{
    DescriptorPool, DynamicMessage, Kind, MessageDescriptor, ReflectMessage as _, Value,
};

use crate::error::{Error, Result};

const FIELD: &str = "read_mask";

static POOL: LazyLock<std::result::Result<DescriptorPool, String>> =
    LazyLock::new(|| DescriptorPool::decode(proto::FILE_DESCRIPTOR_SET).map_err(|e| e.to_string()));

fn descriptor<M: prost::Name>() -> Result<MessageDescriptor> {
    let pool = POOL
        .as_ref()
        .map_err(|e| Error::Internal(format!("descriptor set: {e}")))?;
    pool.get_message_by_name(&M::full_name())
        .ok_or_else(|| Error::Internal(format!("no descriptor for {}", M::full_name())))
}

/// The fields kept, by number: a field maps to `None` when it is kept whole, to the fields kept
/// inside it otherwise.
#[derive(Debug, Default, PartialEq)]
struct Keep(BTreeMap<u32, Option<Keep>>);

impl Keep {
    fn add(&mut self, desc: &MessageDescriptor, path: &str, segments: &[&str]) -> Result<()> {
        let Some((name, rest)) = segments.split_first() else {
            return Ok(());
        };
        let field = desc
            .get_field_by_name(name)
            .or_else(|| desc.get_field_by_json_name(name))
            .ok_or_else(|| {
                Error::invalid(
                    FIELD,
                    format!("unknown field path {path:?} of {}", desc.name()),
                )
            })?;
        if rest.is_empty() {
            self.0.insert(field.number(), None);
            return Ok(());
        }
        let inner = match field.kind() {
            Kind::Message(inner) if !field.is_list() && !field.is_map() => inner,
            _ => {
                return Err(Error::invalid(
                    FIELD,
                    format!("field path {path:?}: {name} has no sub-fields to select"),
                ));
            }
        };
        match self
            .0
            .entry(field.number())
            .or_insert(Some(Keep::default()))
        {
            // Already kept whole.
            None => Ok(()),
            Some(keep) => keep.add(&inner, path, rest),
        }
    }

    fn prune(&self, message: &mut DynamicMessage) {
        for field in message.descriptor().fields() {
            match self.0.get(&field.number()) {
                None => message.clear_field(&field),
                Some(None) => {}
                Some(Some(inner)) => {
                    if let Value::Message(m) = message.get_field_mut(&field) {
                        inner.prune(m);
                    }
                }
            }
        }
    }
}

/// A validated read mask for responses of type `M`.
#[derive(Debug)]
pub struct ReadMask<M> {
    /// `None`: every field.
    keep: Option<Keep>,
    message: PhantomData<fn(M) -> M>,
}

impl<M: prost::Message + prost::Name + Default> ReadMask<M> {
    /// An absent or empty mask, or `*`, returns every field; an unknown path is refused with
    /// INVALID_ARGUMENT on `read_mask`, naming the path.
    pub fn parse(mask: Option<prost_types::FieldMask>) -> Result<Self> {
        let paths = mask.map(|m| m.paths).unwrap_or_default();
        if paths.is_empty() || paths.iter().any(|p| p.trim() == "*") {
            return Ok(Self {
                keep: None,
                message: PhantomData,
            });
        }
        let desc = descriptor::<M>()?;
        let mut keep = Keep::default();
        for path in &paths {
            let segments: Vec<&str> = path.trim().split('.').collect();
            keep.add(&desc, path, &segments)?;
        }
        Ok(Self {
            keep: Some(keep),
            message: PhantomData,
        })
    }

    /// `message` with only the masked fields set.
    pub fn apply(&self, message: M) -> Result<M> {
        let Some(keep) = &self.keep else {
            return Ok(message);
        };
        let mut dynamic =
            DynamicMessage::decode(descriptor::<M>()?, message.encode_to_vec().as_slice())
                .map_err(|e| Error::Internal(format!("read mask decode: {e}")))?;
        keep.prune(&mut dynamic);
        M::decode(dynamic.encode_to_vec().as_slice())
            .map_err(|e| Error::Internal(format!("read mask encode: {e}")))
    }

    /// [`ReadMask::apply`] to each message.
    pub fn apply_all(&self, messages: impl IntoIterator<Item = M>) -> Result<Vec<M>> {
        messages.into_iter().map(|m| self.apply(m)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proto::crm as pb;
    use proto::google::r#type::Money;

    fn mask(paths: &[&str]) -> Option<prost_types::FieldMask> {
        Some(prost_types::FieldMask {
            paths: paths.iter().map(|p| (*p).to_owned()).collect(),
        })
    }

    fn opportunity() -> pb::Opportunity {
        pb::Opportunity {
            id: "o-1".into(),
            name: "Deal".into(),
            owner_id: "u-1".into(),
            amount: Some(Money {
                currency_code: "EUR".into(),
                units: 12,
                nanos: 5,
            }),
            ..Default::default()
        }
    }

    #[test]
    fn only_the_named_fields_remain() {
        let m = ReadMask::<pb::Opportunity>::parse(mask(&["id", "amount.units"])).expect("valid");
        let out = m.apply(opportunity()).expect("applied");
        assert_eq!(out.id, "o-1");
        assert_eq!(out.name, "");
        assert_eq!(out.owner_id, "");
        let amount = out.amount.expect("kept");
        assert_eq!((amount.units, amount.currency_code.as_str()), (12, ""));
    }

    #[test]
    fn json_names_are_accepted_and_no_mask_keeps_everything() {
        let m = ReadMask::<pb::Opportunity>::parse(mask(&["ownerId"])).expect("valid");
        assert_eq!(m.apply(opportunity()).expect("applied").owner_id, "u-1");
        for everything in [None, mask(&[]), mask(&["*"])] {
            let m = ReadMask::<pb::Opportunity>::parse(everything).expect("valid");
            assert_eq!(m.apply(opportunity()).expect("applied"), opportunity());
        }
    }

    #[test]
    fn unknown_paths_are_refused_by_name() {
        for (paths, named) in [
            (&["id", "shoe_size"][..], "\"shoe_size\""),
            (&["amount.cents"][..], "\"amount.cents\""),
            (&["name.first"][..], "\"name.first\""),
        ] {
            let Err(Error::InvalidArgument(v)) = ReadMask::<pb::Opportunity>::parse(mask(paths))
            else {
                panic!("expected a violation for {paths:?}");
            };
            assert_eq!(v[0].field, "read_mask");
            assert!(v[0].description.contains(named), "{}", v[0].description);
        }
    }
}
