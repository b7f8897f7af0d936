//! The block planner: merges a poll tier's points into as few requests as the
//! device allows (≤ `max_block` registers each, gaps of at most `max_gap`).

use serde::Serialize;

use super::schema::PointDef;
use crate::modbus::{Op, RegisterKind};

/// One read request and the points it carries (indices into the profile's points).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Block {
    pub kind: RegisterKind,
    pub addr: u16,
    pub count: u16,
    pub points: Vec<usize>,
}

impl Block {
    pub fn op(&self) -> Op {
        Op::Read {
            kind: self.kind,
            addr: self.addr,
            count: self.count,
        }
    }
}

/// Plans the reads for the points `selected` (indices into `points`).
pub fn plan(points: &[PointDef], selected: &[usize], max_block: u16, max_gap: u16) -> Vec<Block> {
    let mut order: Vec<usize> = selected.to_vec();
    order.sort_by_key(|&i| (points[i].kind, points[i].span()));
    let mut blocks: Vec<(RegisterKind, u32, u32, Vec<usize>)> = Vec::new();
    for i in order {
        let p = &points[i];
        let (lo, hi) = p.span();
        if let Some((kind, start, end, members)) = blocks.last_mut()
            && *kind == p.kind
            && lo <= *end + u32::from(max_gap)
            && hi.max(*end) - *start <= u32::from(max_block)
        {
            *end = (*end).max(hi);
            members.push(i);
            continue;
        }
        blocks.push((p.kind, lo, hi, vec![i]));
    }
    blocks
        .into_iter()
        .map(|(kind, start, end, points)| Block {
            kind,
            addr: start as u16,
            count: (end - start) as u16,
            points,
        })
        .collect()
}

/// Plans every tier of a profile: `(tier, blocks)`.
pub fn plan_tiers(profile: &super::ResolvedProfile) -> Vec<(String, Vec<Block>)> {
    // A P1 meter sends telegrams: there is nothing to ask for.
    if profile.protocol == super::schema::Protocol::P1 {
        return Vec::new();
    }
    profile
        .tiers
        .keys()
        .map(|tier| {
            let selected: Vec<usize> = (0..profile.points.len())
                .filter(|&i| &profile.points[i].tier == tier)
                .collect();
            (
                tier.clone(),
                plan(
                    &profile.points,
                    &selected,
                    profile.max_block,
                    profile.max_gap,
                ),
            )
        })
        .filter(|(_, blocks)| !blocks.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modbus::{DataType, WordOrder};
    use proptest::prelude::*;

    fn point(kind: RegisterKind, addr: u16, words: u16, sf: Option<u16>) -> PointDef {
        PointDef {
            key: crate::model::PointKey::new(&format!("p{addr}")).unwrap(),
            label: String::new(),
            kind,
            addr,
            words,
            ty: if words == 1 {
                DataType::U16
            } else {
                DataType::U32
            },
            order: WordOrder::ABCD,
            scale: 1.0,
            offset: 0.0,
            scale_factor_addr: sf,
            unit: None,
            sign: Default::default(),
            invalid: vec![],
            states: Default::default(),
            tier: "fast".into(),
            counter: None,
            write: None,
            role: None,
            p1: None,
        }
    }

    #[test]
    fn merges_neighbours_and_respects_gap_and_kind() {
        use RegisterKind::*;
        let pts = vec![
            point(Input, 0, 2, None),
            point(Input, 2, 2, None),
            point(Input, 20, 2, None), // gap 16 > 8
            point(Holding, 4, 1, None),
        ];
        let blocks = plan(&pts, &[0, 1, 2, 3], 125, 8);
        let shape: Vec<_> = blocks.iter().map(|b| (b.kind, b.addr, b.count)).collect();
        assert_eq!(shape, vec![(Input, 0, 4), (Input, 20, 2), (Holding, 4, 1)]);
    }

    #[test]
    fn keeps_a_value_and_its_scale_factor_in_one_request() {
        let pts = vec![
            point(RegisterKind::Holding, 40084, 1, Some(40085)),
            point(RegisterKind::Holding, 40094, 2, Some(40096)),
        ];
        let blocks = plan(&pts, &[0, 1], 3, 0);
        assert_eq!(blocks.len(), 2);
        assert_eq!((blocks[0].addr, blocks[0].count), (40084, 2));
        assert_eq!((blocks[1].addr, blocks[1].count), (40094, 3));
    }

    proptest! {
        #[test]
        fn covers_every_point_and_never_exceeds_the_limit(
            raw in proptest::collection::vec((0u16..3, 0u16..400, 1u16..5, proptest::option::of(0u16..6)), 1..60),
            max_block in 6u16..126,
            max_gap in 0u16..12,
        ) {
            let kinds = [RegisterKind::Holding, RegisterKind::Input, RegisterKind::Coil];
            let pts: Vec<PointDef> = raw.iter().map(|(k, a, w, sf)| point(kinds[usize::from(*k)], *a, *w, sf.map(|o| a + o))).collect();
            let all: Vec<usize> = (0..pts.len()).collect();
            let blocks = plan(&pts, &all, max_block, max_gap);
            for b in &blocks {
                prop_assert!(b.count <= max_block, "block {b:?} over {max_block}");
            }
            for (i, p) in pts.iter().enumerate() {
                let (lo, hi) = p.span();
                let holders: Vec<_> = blocks.iter().filter(|b| b.points.contains(&i)).collect();
                prop_assert_eq!(holders.len(), 1);
                let b = holders[0];
                prop_assert_eq!(b.kind, p.kind);
                prop_assert!(u32::from(b.addr) <= lo && hi <= u32::from(b.addr) + u32::from(b.count));
            }
        }
    }
}
