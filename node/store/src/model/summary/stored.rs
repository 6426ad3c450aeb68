//! How a [`Summary`] is stored: its MIME tree flattened into a list of parts that name their
//! children by index, so encoding and decoding never recurse however deep the message nests.
//! A record in the earlier nested layout does not decode; callers treat it as absent and parse
//! the body again, so old records need no migration.

use serde::{Deserialize, Serialize};

use super::{Envelope, Part, Summary};

/// The stored layout's version, refused when it does not match.
const LAYOUT: u8 = 2;

/// One part without its children.
#[derive(Serialize, Deserialize)]
struct FlatPart {
    part: Part,
    /// Indices of the children of a multipart.
    children: Vec<u32>,
    /// The envelope and the index of the root part of an attached message.
    message: Option<(Envelope, u32)>,
}

/// The stored record.
#[derive(Serialize, Deserialize)]
pub(super) struct Stored {
    layout: u8,
    envelope: Envelope,
    malformed: bool,
    depth: u32,
    /// Parts in pre-order: the root first, every child after its parent.
    parts: Vec<FlatPart>,
}

impl From<Summary> for Stored {
    fn from(s: Summary) -> Self {
        let mut parts: Vec<FlatPart> = Vec::new();
        // (part, index of the parent's entry, whether it is the parent's attached message)
        let mut stack = vec![(s.structure, None::<usize>, false)];
        while let Some((mut part, parent, attached)) = stack.pop() {
            let index = parts.len();
            if let Some(p) = parent {
                let i = index as u32;
                match (&mut parts[p].message, attached) {
                    (Some((_, root)), true) => *root = i,
                    _ => parts[p].children.push(i),
                }
            }
            let children = std::mem::take(&mut part.parts);
            let message = part.message.take().map(|m| *m);
            let mut flat = FlatPart {
                part,
                children: Vec::new(),
                message: None,
            };
            // Pushed in reverse so they come off the stack, and get their indices, in order.
            if let Some((envelope, root)) = message {
                flat.message = Some((envelope, 0));
                stack.push((root, Some(index), true));
            }
            stack.extend(children.into_iter().rev().map(|c| (c, Some(index), false)));
            parts.push(flat);
        }
        Stored {
            layout: LAYOUT,
            envelope: s.envelope,
            malformed: s.malformed,
            depth: s.depth,
            parts,
        }
    }
}

impl TryFrom<Stored> for Summary {
    type Error = String;

    fn try_from(s: Stored) -> Result<Self, String> {
        if s.layout != LAYOUT {
            return Err(format!("summary layout {} (expected {LAYOUT})", s.layout));
        }
        let count = s.parts.len();
        let mut built: Vec<Option<Part>> = (0..count).map(|_| None).collect();
        // Children come after their parent, so building from the end finds them ready.
        for (index, flat) in s.parts.into_iter().enumerate().rev() {
            let mut take = |i: u32| {
                let i = i as usize;
                if i <= index {
                    return Err(format!("part {index} names part {i} as its child"));
                }
                built
                    .get_mut(i)
                    .and_then(Option::take)
                    .ok_or_else(|| format!("part {i} is missing or has two parents"))
            };
            let mut part = flat.part;
            for c in flat.children {
                part.parts.push(take(c)?);
            }
            if let Some((envelope, root)) = flat.message {
                part.message = Some(Box::new((envelope, take(root)?)));
            }
            built[index] = Some(part);
        }
        let structure = built
            .first_mut()
            .and_then(Option::take)
            .ok_or("no root part")?;
        Ok(Summary {
            envelope: s.envelope,
            structure,
            malformed: s.malformed,
            depth: s.depth,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The nested layout stored before the flat one.
    #[derive(Serialize)]
    struct Nested {
        envelope: Envelope,
        structure: Part,
        malformed: bool,
    }

    #[test]
    fn the_nested_layout_does_not_decode() {
        let s = Summary::parse(b"Subject: x\r\n\r\nbody\r\n");
        let old = rmp_serde::to_vec_named(&Nested {
            envelope: s.envelope.clone(),
            structure: s.structure.clone(),
            malformed: false,
        })
        .expect("encode");
        assert!(rmp_serde::from_slice::<Summary>(&old).is_err());
        let new = rmp_serde::to_vec_named(&s).expect("encode");
        assert_eq!(rmp_serde::from_slice::<Summary>(&new).expect("decode"), s);
    }

    #[test]
    fn a_child_before_its_parent_is_refused() {
        let leaf = |children: Vec<u32>| FlatPart {
            part: Part::default(),
            children,
            message: None,
        };
        let stored = Stored {
            layout: LAYOUT,
            envelope: Envelope::default(),
            malformed: false,
            depth: 1,
            parts: vec![leaf(vec![1]), leaf(vec![0])],
        };
        assert!(Summary::try_from(stored).is_err());
    }
}
