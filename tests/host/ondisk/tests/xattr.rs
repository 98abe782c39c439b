// SPDX-License-Identifier: GPL-2.0

//! Property tests of the extended attribute blocks and ACL values of `fs/xipfs/ondisk.rs`:
//! random sequences of set, create, replace and remove against a sorted map (the model), each
//! written block checked byte for byte against the documented layout and hashes
//! (`check::xattr_write_checked`); `XattrBlock::parse` against an oracle written apart
//! (`check::xattr_block`) on arbitrary, mutated and hand-corrupted blocks; the ACL codec against
//! its own oracle. `PROPTEST_CASES` sets the number of cases per property (default 2048).

use proptest::collection::vec;
use proptest::prelude::*;
use std::collections::BTreeMap;
use xipfs_ondisk_host::check;
use xipfs_ondisk_host::ondisk::*;
use xipfs_ondisk_host::targets;

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok());
    ProptestConfig {
        cases: cases.unwrap_or(2048),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Name indexes: mostly `user.`, often the other known ones, sometimes any (0 is refused).
fn index() -> impl Strategy<Value = u8> {
    prop_oneof![
        6 => Just(XATTR_INDEX_USER),
        3 => prop::sample::select(vec![2u8, 3, 4, 6]),
        1 => any::<u8>(),
    ]
}

/// Names: mostly short ones over a small alphabet (so that changes meet existing names), some
/// long, some at and over the limit, some with a NUL or bytes over 0x7f.
fn name() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        12 => vec(b'a'..=b'b', 1..3),
        1 => Just(Vec::new()),
        2 => vec(any::<u8>(), 1..40),
        1 => vec(b'n'..=b'o', 250..=256),
    ]
}

/// Values: mostly small, some large enough to fill a block, some at and over 4096 bytes.
fn value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        6 => vec(any::<u8>(), 0..16),
        3 => vec(any::<u8>(), 0..1600),
        1 => (4095usize..=4097).prop_map(|n| vec![0x77; n]),
    ]
}

/// (index, name, mode 0..4: Any, Create, Replace, Remove; value; refcount)
type Op = (u8, Vec<u8>, u8, Vec<u8>, u32);

fn op() -> impl Strategy<Value = Op> {
    (
        index(),
        name(),
        0u8..4,
        value(),
        prop_oneof![20 => 1u32..4, 1 => Just(0u32), 1 => any::<u32>()],
    )
}

fn change(mode: u8, value: &[u8]) -> XattrChange<'_> {
    match mode {
        0 => XattrChange::Set(value, XattrSetMode::Any),
        1 => XattrChange::Set(value, XattrSetMode::Create),
        2 => XattrChange::Set(value, XattrSetMode::Replace),
        _ => XattrChange::Remove,
    }
}

type Model = BTreeMap<(u8, usize, Vec<u8>), Vec<u8>>;

/// Applies `ops` from no block, each through `check::xattr_write_checked`; after each, the
/// block holds exactly what the test's own map holds (updated on each success only).
fn run(ops: &[Op]) -> (Option<Vec<u8>>, Model) {
    let mut cur: Option<Vec<u8>> = None;
    let mut model = Model::new();
    for (index, name, mode, value, refcount) in ops {
        let old = cur.as_deref().map(|b| XattrBlock::parse(b).unwrap());
        let r =
            check::xattr_write_checked(old.as_ref(), *index, name, change(*mode, value), *refcount);
        if let Some(next) = r {
            let key = (*index, name.len(), name.clone());
            if *mode == 3 {
                assert!(model.remove(&key).is_some(), "removed an absent entry");
            } else {
                let had = model.insert(key, value.clone());
                assert_eq!(had.is_some(), *mode == 2 || (*mode == 0 && had.is_some()));
            }
            assert_eq!(next.is_none(), model.is_empty());
            cur = next;
        }
        let listed: Model = cur
            .as_deref()
            .map(|b| check::xattr_model(Some(&XattrBlock::parse(b).unwrap())))
            .unwrap_or_default();
        assert_eq!(listed, model);
    }
    (cur, model)
}

/// A block written from `entries` (set one by one; the ones that do not fit are left out).
fn block_of(entries: &[(u8, Vec<u8>, Vec<u8>)]) -> Option<Vec<u8>> {
    let ops: Vec<Op> = entries
        .iter()
        .map(|(i, n, v)| (*i, n.clone(), 0, v.clone(), 1))
        .collect();
    run(&ops).0
}

fn entries() -> impl Strategy<Value = Vec<(u8, Vec<u8>, Vec<u8>)>> {
    vec(
        (
            prop::sample::select(vec![1u8, 2, 3, 4, 6, 7]),
            vec(any::<u8>().prop_filter("no NUL", |b| *b != 0), 1..12),
            vec(any::<u8>(), 0..200),
        ),
        1..20,
    )
}

proptest! {
    #![proptest_config(config())]

    /// Random changes give the model's contents, errors and sizes, and every written block is
    /// laid out and hashed as documented.
    #[test]
    fn xattr_sequences(ops in vec(op(), 1..48)) {
        run(&ops);
    }

    /// Whatever was set reads back, sorted, from the parsed block.
    #[test]
    fn xattr_round_trip(es in entries()) {
        let Some(b) = block_of(&es) else { return Ok(()) };
        let x = XattrBlock::parse(&b).unwrap();
        prop_assert!(x.check_hashes());
        for (i, n, _) in &es {
            prop_assert!(x.get(*i, n).is_some());
        }
        let keys: Vec<_> = x.entries().map(|e| (e.index, e.name.len(), e.name.to_vec())).collect();
        let mut sorted = keys.clone();
        sorted.sort();
        sorted.dedup();
        prop_assert_eq!(keys, sorted);
        // Rewriting each value with itself gives the same block.
        for e in x.entries() {
            let mut out = vec![0u8; BLOCK_SIZE];
            let r = xattr_write(Some(&x), e.index, e.name, XattrChange::Set(e.value, XattrSetMode::Replace), 1, &mut out);
            prop_assert_eq!(r, Ok(XattrWritten::Block));
            prop_assert_eq!(&out, &b);
        }
    }

    /// Mutated valid blocks: parse agrees with the oracle, nothing panics, and a change to
    /// what parse accepted follows the model.
    #[test]
    fn xattr_mutated(es in entries(), m in vec((0usize..BLOCK_SIZE, any::<u8>()), 1..6),
                     op in op()) {
        let Some(mut b) = block_of(&es) else { return Ok(()) };
        // Mostly in the header and table, where the checks are.
        let table = XattrBlock::parse(&b).unwrap().used().min(BLOCK_SIZE);
        for (k, (at, v)) in m.iter().enumerate() {
            let at = if k % 2 == 0 { at % (table.min(400) + 1) } else { *at };
            b[at] = *v;
        }
        check::xattr_block(&b);
        if let Ok(x) = XattrBlock::parse(&b) {
            check::xattr_write_checked(Some(&x), op.0, &op.1, change(op.2, &op.3), op.4);
        }
        targets::xattr(&targets::encode_xattr(&b, &[]));
    }

    /// Arbitrary bytes behind a valid header: parse agrees with the oracle.
    #[test]
    fn xattr_arbitrary(tail in vec(any::<u8>(), 0..BLOCK_SIZE), refcount in any::<u32>(),
                       len in prop_oneof![Just(BLOCK_SIZE), 0usize..5000]) {
        let mut b = vec![0u8; 32];
        b[..4].copy_from_slice(&XATTR_MAGIC.to_le_bytes());
        b[4..8].copy_from_slice(&refcount.to_le_bytes());
        b[8..12].copy_from_slice(&1u32.to_le_bytes());
        b.extend_from_slice(&tail);
        b.resize(len, 0);
        check::xattr_block(&b);
        let mut c = b.clone();
        if XattrBlock::parse(&b).is_err() {
            prop_assert!(xattr_set_refcount(&mut c, 5).is_err());
            prop_assert_eq!(c, b);
        }
    }

    /// The fuzz target on a valid block and arbitrary changes.
    #[test]
    fn xattr_target(es in entries(), ops in vec(any::<u8>(), 0..600)) {
        let b = block_of(&es).unwrap_or_default();
        let mut input = targets::encode_xattr(&b, &[]);
        input.extend_from_slice(&ops);
        targets::xattr(&input);
    }

    /// Valid ACLs (the four entries without id and any number with one, in any order) encode
    /// to what the oracle decodes, and decode back.
    #[test]
    fn acl_round_trip(ids in vec((any::<bool>(), 0u16..8, any::<u32>()), 0..40),
                      perms in any::<[u16; 4]>(), ids4 in any::<[u32; 4]>(), seed in any::<u64>()) {
        let mut es: Vec<AclEntry> = [AclTag::UserObj, AclTag::GroupObj, AclTag::Mask, AclTag::Other]
            .iter()
            .zip(perms)
            .zip(ids4)
            .map(|((&tag, perm), id)| AclEntry { tag, perm: perm % 8, id })
            .collect();
        es.extend(ids.iter().map(|&(user, perm, id)| AclEntry {
            tag: if user { AclTag::User } else { AclTag::Group },
            perm,
            id,
        }));
        // Any order: a simple shuffle from the seed.
        let mut s = seed;
        for i in (1..es.len()).rev() {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            es.swap(i, (s >> 33) as usize % (i + 1));
        }
        check::acl_entries(&es);
        let mut v = vec![0u8; acl_size(&es)];
        prop_assert_eq!(acl_encode(&es, &mut v), Ok(v.len()));
        let mut back = vec![AclEntry { tag: AclTag::Other, perm: 0, id: 0 }; es.len()];
        prop_assert_eq!(acl_decode(&v, &mut back), Ok(es.len()));
        for (a, b) in es.iter().zip(&back) {
            prop_assert_eq!((a.tag, a.perm), (b.tag, b.perm));
            prop_assert_eq!(b.id, if a.tag.has_id() { a.id } else { 0 });
        }
    }

    /// Any entries: the encoder refuses what ext2 could not read back, and only that.
    #[test]
    fn acl_any_entries(es in vec((0usize..6, 0u16..10, any::<u32>()), 0..12)) {
        let tags = [AclTag::UserObj, AclTag::User, AclTag::GroupObj, AclTag::Group, AclTag::Mask, AclTag::Other];
        let es: Vec<AclEntry> = es.iter().map(|&(t, perm, id)| AclEntry { tag: tags[t], perm, id }).collect();
        check::acl_entries(&es);
    }

    /// Arbitrary values, and valid ones mutated: count and decode agree with the oracle.
    #[test]
    fn acl_arbitrary(v in prop_oneof![
        vec(any::<u8>(), 0..64),
        (vec(prop::sample::select(vec![1u8, 2, 4, 8, 0x10, 0x20, 3]), 0..12), vec((0usize..100, any::<u8>()), 0..3))
            .prop_map(|(tags, muts)| {
                let mut v = vec![1u8, 0, 0, 0];
                for t in tags {
                    v.extend_from_slice(&[t, 0, 5, 0]);
                    if t == 2 || t == 8 {
                        v.extend_from_slice(&[0xe8, 3, 0, 0]);
                    }
                }
                for (at, b) in muts {
                    if let Some(x) = v.get_mut(at) {
                        *x = b;
                    }
                }
                v
            }),
    ]) {
        check::acl_value(&v);
    }
}

// ---------------------------------------------------------------------------------------------
// Hand-made cases: each documented refusal, each error of the writer, the hashes.

/// A valid block: user.a = "xyz", user.bb = "" , trusted.c = 8 bytes.
fn good() -> Vec<u8> {
    block_of(&[
        (1, b"a".to_vec(), b"xyz".to_vec()),
        (1, b"bb".to_vec(), Vec::new()),
        (4, b"c".to_vec(), b"12345678".to_vec()),
    ])
    .unwrap()
}

fn put32(b: &mut [u8], off: usize, v: u32) {
    b[off..off + 4].copy_from_slice(&v.to_le_bytes());
}

fn put16(b: &mut [u8], off: usize, v: u16) {
    b[off..off + 2].copy_from_slice(&v.to_le_bytes());
}

/// Offset of the first entry ("a") in `good()`.
const A: usize = 32;

#[test]
fn xattr_layout_of_good() {
    let b = good();
    let x = XattrBlock::parse(&b).unwrap();
    let o = check::xattr_block(&b).unwrap();
    assert_eq!(o.table_end, 92);
    assert_eq!(
        [o.entries[0].offs, o.entries[1].offs, o.entries[2].offs],
        [4092, 0, 4084]
    );
    assert_eq!(x.used(), 36 + 20 + 20 + 20 + 4 + 8);
    assert!(x.check_hashes());
    assert_eq!(x.refcount(), 1);
    assert_eq!(le32(&b, A + 12), Ok(xattr_hash_entry(b"a", b"xyz")));
}

/// One entry for [`build`]: (index, name, value offset, value size).
type RawEntry<'a> = (u8, &'a [u8], u16, u32);

/// A block with a valid header and `entries` laid out from byte 32 (value block 0, hashes 0),
/// then the terminator; the values' bytes are left zero.
fn build(entries: &[RawEntry<'_>]) -> Vec<u8> {
    let mut b = vec![0u8; BLOCK_SIZE];
    put32(&mut b, 0, XATTR_MAGIC);
    put32(&mut b, 4, 1);
    put32(&mut b, 8, 1);
    let mut p = 32;
    for &(index, name, offs, size) in entries {
        b[p] = name.len() as u8;
        b[p + 1] = index;
        put16(&mut b, p + 2, offs);
        put32(&mut b, p + 8, size);
        b[p + 16..p + 16 + name.len()].copy_from_slice(name);
        p += (16 + name.len()).div_ceil(4) * 4;
    }
    b
}

/// `parse` refuses `b` (and so does the oracle, and `xattr_set_refcount`).
fn refused(what: &str, b: &[u8]) {
    assert!(XattrBlock::parse(b).is_err(), "{what}: accepted");
    assert!(check::xattr_block(b).is_none());
    let mut c = b.to_vec();
    assert!(
        xattr_set_refcount(&mut c, 2).is_err(),
        "{what}: set_refcount"
    );
    assert_eq!(c, b);
}

/// `parse` accepts `b` (and so does the oracle).
fn accepted(what: &str, b: &[u8]) {
    assert!(
        XattrBlock::parse(b).is_ok(),
        "{what}: refused: {:?}",
        XattrBlock::parse(b)
    );
    assert!(check::xattr_block(b).is_some());
}

#[test]
fn xattr_refusals() {
    let base: [RawEntry<'_>; 3] = [(1, b"a", 4092, 3), (1, b"bb", 0, 0), (4, b"c", 4084, 8)];
    accepted("base", &build(&base));
    // The header.
    for (what, off, v) in [
        ("magic", 0, 0xEA01_0000),
        ("h_blocks 0", 8, 0),
        ("h_blocks 2", 8, 2),
        ("refcount 0", 4, 0),
    ] {
        let mut b = build(&base);
        put32(&mut b, off, v);
        refused(what, &b);
    }
    let mut b = build(&base);
    put32(&mut b, 4, u32::MAX);
    b[16..32].fill(0xff); // reserved: not looked at
    accepted("refcount max, reserved bytes", &b);
    refused("short", &build(&base)[..BLOCK_SIZE - 1]);
    refused("long", &[&build(&base)[..], &[0]].concat());
    refused("empty", &[]);
    // Entries.
    let mut b = build(&base);
    put32(&mut b, 52 + 4, 9);
    refused("e_value_block", &b);
    refused("index 0", &build(&[(0, b"a", 0, 0)]));
    refused("empty user name", &build(&[(1, b"", 0, 0)]));
    refused("empty security name", &build(&[(6, b"", 0, 0)]));
    accepted("empty ACL names", &build(&[(2, b"", 0, 0), (3, b"", 0, 0)]));
    accepted(
        "unknown index",
        &build(&[(1, b"a", 0, 0), (200, b"a", 0, 0)]),
    );
    refused(
        "names unsorted",
        &build(&[(1, b"b", 0, 0), (1, b"a", 0, 0)]),
    );
    refused(
        "lengths unsorted",
        &build(&[(1, b"bb", 0, 0), (1, b"a", 0, 0)]),
    );
    refused(
        "indexes unsorted",
        &build(&[(4, b"a", 0, 0), (1, b"a", 0, 0)]),
    );
    refused("twice", &build(&[(1, b"a", 0, 0), (1, b"a", 0, 0)]));
    accepted(
        "sorted",
        &build(&[
            (1, b"b", 0, 0),
            (1, b"aa", 0, 0),
            (2, b"", 0, 0),
            (4, b"a", 0, 0),
        ]),
    );
    // The table's end: 14 entries of 272 bytes end at 3840, a 15th would cross the block end.
    let long: Vec<Vec<u8>> = (0..15u8)
        .map(|i| [vec![b'a' + i], vec![b'n'; 254]].concat())
        .collect();
    let ents: Vec<RawEntry<'_>> = long.iter().map(|n| (1, &n[..], 0, 0)).collect();
    accepted("14 long names", &build(&ents[..14]));
    let mut b = build(&ents[..14]);
    b[3840] = 255;
    b[3841] = 1;
    refused("15 long names", &b);
    // 203 entries of 20 bytes end at 4092: the terminator fits, anything else crosses.
    let short: Vec<[u8; 4]> = (0..203usize)
        .map(|i| {
            [
                b'n',
                b'0' + (i / 100) as u8,
                b'0' + (i / 10 % 10) as u8,
                b'0' + (i % 10) as u8,
            ]
        })
        .collect();
    let ents: Vec<RawEntry<'_>> = short.iter().map(|n| (1, &n[..], 0, 0)).collect();
    let b = build(&ents);
    accepted("203 entries", &b);
    let mut c = b.clone();
    c[4092] = 1;
    refused("no terminator", &c);
    let mut c = b.clone();
    c[4095] = 1;
    refused("terminator not zero", &c);
    // Values.
    refused("misaligned", &build(&[(1, b"a", 4090, 3)]));
    refused("past the end", &build(&[(1, b"a", 4092, 5)]));
    refused("huge", &build(&[(1, b"a", 4092, u32::MAX)]));
    refused("offset past the end", &build(&[(1, b"a", 65532, 4)]));
    refused("in the header", &build(&[(1, b"a", 0, 4)]));
    refused("in the table", &build(&[(1, b"a", 32, 4)]));
    refused("on the terminator", &build(&[(1, b"a", 52, 4)]));
    accepted("right after the terminator", &build(&[(1, b"a", 56, 4)]));
    accepted("a whole block's room", &build(&[(1, b"a", 56, 4040)]));
    refused("one byte more", &build(&[(1, b"a", 56, 4041)]));
    refused(
        "same place",
        &build(&[(1, b"a", 4092, 4), (1, b"b", 4092, 1)]),
    );
    refused("overlap", &build(&[(1, b"a", 4088, 8), (1, b"b", 4092, 4)]));
    refused(
        "overlap in padding",
        &build(&[(1, b"a", 4084, 5), (1, b"b", 4088, 4)]),
    );
    accepted(
        "apart, any order, gaps",
        &build(&[(1, b"a", 4084, 4), (1, b"b", 4092, 1), (1, b"c", 2000, 9)]),
    );
    accepted("empty value at 0", &build(&[(1, b"a", 0, 0)]));
    accepted("empty value at 4096", &build(&[(1, b"a", 4096, 0)]));
    accepted(
        "empty value misaligned, in the table",
        &build(&[(1, b"a", 33, 0)]),
    );
    refused("empty value past 4096", &build(&[(1, b"a", 4097, 0)]));
}

#[test]
fn xattr_hashes() {
    // ext2_xattr_hash_entry by hand: "a" is 0x61; "xyz" is one word 0x007a7978.
    let h = (0x61u32.rotate_left(16)) ^ 0x007a_7978;
    assert_eq!(xattr_hash_entry(b"a", b"xyz"), h);
    assert_eq!(xattr_hash_entry(b"", b""), 0);
    assert_eq!(xattr_hash_entry(b"ab", b""), (0x61 << 5) ^ 0x62);
    let b = good();
    let x = XattrBlock::parse(&b).unwrap();
    let hs = [
        xattr_hash_entry(b"a", b"xyz"),
        xattr_hash_entry(b"bb", b""),
        xattr_hash_entry(b"c", b"12345678"),
    ];
    let want = (hs[0].rotate_left(16) ^ hs[1]).rotate_left(16) ^ hs[2];
    assert_eq!(x.hash(), want);
    assert_eq!(x.computed_hash(), want);
    // A wrong entry hash, a wrong block hash, a zero entry hash (block hash then 0).
    let mut c = b.clone();
    put32(&mut c, A + 12, hs[0] ^ 1);
    assert!(!XattrBlock::parse(&c).unwrap().check_entry_hashes());
    let mut c = b.clone();
    put32(&mut c, 12, want ^ 1);
    let xc = XattrBlock::parse(&c).unwrap();
    assert!(xc.check_entry_hashes() && !xc.check_hashes());
    let mut c = b.clone();
    put32(&mut c, 12, 0);
    assert!(
        !XattrBlock::parse(&c).unwrap().check_hashes(),
        "h_hash 0 is wrong here"
    );
    // Padding bytes count in the stored hash, as ext2 reads them from the block.
    let mut c = b.clone();
    c[4095] = 1;
    assert!(!XattrBlock::parse(&c).unwrap().check_entry_hashes());
    // A name with a byte over 0x7f: the old signed hash is accepted too.
    let hb = block_of(&[(1, b"caf\xc3\xa9".to_vec(), b"v".to_vec())]).unwrap();
    let x = XattrBlock::parse(&hb).unwrap();
    assert!(x.check_hashes());
    let mut signed = 0u32;
    for &c in b"caf\xc3\xa9" {
        signed = signed.rotate_left(5) ^ (c as i8 as i32 as u32);
    }
    signed = signed.rotate_left(16) ^ u32::from(b'v');
    assert_ne!(signed, le32(&hb, 32 + 12).unwrap());
    let mut c = hb.clone();
    put32(&mut c, 32 + 12, signed);
    put32(&mut c, 12, signed);
    assert!(XattrBlock::parse(&c).unwrap().check_hashes());
}

#[test]
fn xattr_writer_errors() {
    let b = good();
    let x = XattrBlock::parse(&b).unwrap();
    let mut out = vec![0u8; BLOCK_SIZE];
    let set = |v: &'static [u8], m| XattrChange::Set(v, m);
    let any = XattrSetMode::Any;
    let big = vec![1u8; 4097];
    let w = |old: Option<&XattrBlock<'_>>, i, n: &[u8], c, r, out: &mut Vec<u8>| {
        let got = xattr_write(old, i, n, c, r, out);
        check::xattr_write_checked(old, i, n, c, r);
        got
    };
    use XattrError::*;
    assert_eq!(
        w(Some(&x), 0, b"a", set(b"1", any), 1, &mut out),
        Err(Range)
    );
    assert_eq!(w(Some(&x), 1, b"", set(b"1", any), 1, &mut out), Err(Range));
    assert_eq!(
        w(Some(&x), 1, &[b'n'; 256], set(b"1", any), 1, &mut out),
        Err(Range)
    );
    assert_eq!(
        w(Some(&x), 1, b"a\0", set(b"1", any), 1, &mut out),
        Err(Range)
    );
    assert_eq!(
        w(Some(&x), 1, b"a", XattrChange::Set(&big, any), 1, &mut out),
        Err(Range)
    );
    assert_eq!(
        w(Some(&x), 1, b"a", set(b"1", any), 0, &mut out),
        Err(Range)
    );
    assert_eq!(
        w(
            Some(&x),
            1,
            b"a",
            set(b"1", XattrSetMode::Create),
            1,
            &mut out
        ),
        Err(Exists)
    );
    assert_eq!(
        w(
            Some(&x),
            1,
            b"b",
            set(b"1", XattrSetMode::Replace),
            1,
            &mut out
        ),
        Err(NotFound)
    );
    assert_eq!(
        w(Some(&x), 1, b"b", XattrChange::Remove, 1, &mut out),
        Err(NotFound)
    );
    assert_eq!(
        w(None, 1, b"a", XattrChange::Remove, 1, &mut out),
        Err(NotFound)
    );
    assert_eq!(
        w(None, 1, b"a", set(b"1", XattrSetMode::Replace), 1, &mut out),
        Err(NotFound)
    );
    // ERANGE before EEXIST, as ext2 checks them.
    assert_eq!(
        w(
            Some(&x),
            1,
            b"a",
            XattrChange::Set(&big, XattrSetMode::Create),
            1,
            &mut out
        ),
        Err(Range)
    );
    // The ACL indexes take empty names; 255 bytes is fine; a whole-block value needs the block.
    assert_eq!(
        w(Some(&x), 2, b"", set(b"\x01\0\0\0", any), 1, &mut out),
        Ok(XattrWritten::Block)
    );
    assert_eq!(
        w(Some(&x), 1, &[b'n'; 255], set(b"", any), 1, &mut out),
        Ok(XattrWritten::Block)
    );
    let whole = vec![3u8; BLOCK_SIZE - 32 - 4 - 20];
    assert_eq!(
        w(None, 1, b"w", XattrChange::Set(&whole, any), 1, &mut out),
        Ok(XattrWritten::Block)
    );
    let over = vec![3u8; BLOCK_SIZE - 32 - 4 - 20 + 1];
    assert_eq!(
        w(None, 1, b"w", XattrChange::Set(&over, any), 1, &mut out),
        Err(NoSpace)
    );
    // Replacing a value by a larger one fits only when the old one's room is given back.
    let half = vec![4u8; 2000];
    let mut h = vec![0u8; BLOCK_SIZE];
    w(None, 1, b"h", XattrChange::Set(&half, any), 1, &mut h).unwrap();
    let hx = XattrBlock::parse(&h).unwrap();
    let more = vec![5u8; 4000];
    assert_eq!(
        w(
            Some(&hx),
            1,
            b"h",
            XattrChange::Set(&more, any),
            1,
            &mut out
        ),
        Ok(XattrWritten::Block)
    );
    assert_eq!(
        w(
            Some(&hx),
            1,
            b"g",
            XattrChange::Set(&more, any),
            1,
            &mut out
        ),
        Err(NoSpace)
    );
    // out not a block.
    let mut small = vec![0u8; 100];
    assert_eq!(
        xattr_write(Some(&x), 1, b"d", set(b"1", any), 1, &mut small),
        Err(NoSpace)
    );
    // Removing everything.
    let one = block_of(&[(1, b"only".to_vec(), b"1".to_vec())]).unwrap();
    let ox = XattrBlock::parse(&one).unwrap();
    let mut keep = vec![0x11u8; BLOCK_SIZE];
    assert_eq!(
        w(Some(&ox), 1, b"only", XattrChange::Remove, 1, &mut keep),
        Ok(XattrWritten::Empty)
    );
    assert!(keep.iter().all(|&b| b == 0x11));
    // `old` is not modified (it is borrowed shared; and its bytes are as before).
    assert_eq!(b, good());
}

#[test]
fn acl_refusals() {
    let e = |tag, perm, id| AclEntry { tag, perm, id };
    let valid = [
        e(AclTag::UserObj, 6, 0),
        e(AclTag::User, 4, 1000),
        e(AclTag::GroupObj, 4, 0),
        e(AclTag::Mask, 4, 0),
        e(AclTag::Other, 0, 0),
    ];
    let mut v = [0u8; 28];
    assert_eq!(acl_encode(&valid, &mut v), Ok(28));
    assert_eq!(
        v,
        [
            1, 0, 0, 0, 1, 0, 6, 0, 2, 0, 4, 0, 0xe8, 3, 0, 0, 4, 0, 4, 0, 0x10, 0, 4, 0, 0x20, 0,
            0, 0
        ]
    );
    assert_eq!(acl_count(&v), Ok(5));
    assert_eq!(acl_count(&v[..4]), Ok(0));
    assert!(acl_count(&v[..3]).is_err());
    assert!(acl_count(&v[..27]).is_err());
    for (at, b, what) in [
        (0, 2, "version"),
        (4, 3, "tag"),
        (4, 0, "tag 0"),
        (6, 8, "perm"),
        (8, 1, "a long entry turned short: ends early"),
        (24, 2, "a short one turned long: crosses the end"),
    ] {
        let mut c = v;
        c[at] = b;
        assert!(acl_count(&c).is_err(), "{what}");
        check::acl_value(&c);
    }
    // 24 bytes fit no count (ext2_acl_count returns -1).
    assert!(acl_count(&[
        1, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 4, 0, 0, 0, 0x20, 0, 0, 0
    ])
    .is_err());
    // The encoder's refusals.
    let mut out = [0u8; 64];
    assert!(acl_encode(&valid, &mut out[..27]).is_err());
    assert!(acl_encode(&[e(AclTag::Other, 8, 0)], &mut out).is_err());
    assert!(acl_encode(&[e(AclTag::User, 7, 1)], &mut out).is_err());
    assert!(acl_encode(&[e(AclTag::Other, 7, 0); 5], &mut out).is_err());
    assert_eq!(acl_encode(&[], &mut out), Ok(4));
    assert_eq!(acl_encode(&[e(AclTag::Other, 7, 9)], &mut out), Ok(8));
    assert_eq!(&out[..8], &[1, 0, 0, 0, 0x20, 0, 7, 0]);
}
