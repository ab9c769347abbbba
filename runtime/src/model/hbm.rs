//! The memory side of the model: the L2 cache in front of HBM, and how the cores copying at the same
//! moment share the HBM and L2 bandwidth.
//!
//! The L2 is a least-recently-used set of `l2_line`-byte lines of GM (keyed by GM argument and line), as
//! large as the target's L2, each holding the 32-byte sectors that have been read or written. A read of
//! a sector in L2 is a hit (it costs L2 bandwidth); a miss reads HBM and brings the sector in (a line in
//! L2 does not hold the parts of it no access has touched: a tile's row that ends mid-line leaves the
//! rest of the line to the next tile, which must read it from HBM). Writes allocate their lines
//! (write-back), tracked per 32-byte sector: the first write into a sector that is not dirty in L2
//! counts the whole sector (32 bytes) as HBM bytes written, since the sector reaches HBM once, as a
//! whole, when evicted or at the end, however many pieces (from however many cores) filled it; later
//! writes into the dirty sector cost L2 bandwidth only. A sector evicted and written again starts a
//! new dirty period and counts again. So HBM bytes written are never below the distinct bytes written
//! (and equal them for 32-byte aligned outputs). HBM bytes read are counted by the bytes of the
//! bursts, not whole lines, so that a kernel reading every input once reads exactly its GM bytes from
//! HBM.
//!
//! Bandwidth: every active transfer asks its server (HBM or L2) for a rate up to its core's cap; the
//! server's capacity is shared max-min fairly (water-filling): with `n` transfers and capacity `C`,
//! each gets `min(cap, fair share)` and what a capped transfer leaves goes to the others.

use std::collections::{HashMap, VecDeque};

use super::trace::GmAccess;

/// Bytes of a write-back sector of an L2 line.
const SECTOR: u64 = 32;

/// What one GM access costs after the L2.
#[derive(Copy, Clone, Debug, Default, PartialEq)]
pub struct Split {
    /// Bytes served by HBM: read misses, and for a write 32 per sector it makes dirty.
    pub hbm: u64,
    /// Bytes served by L2 (read hits, and writes into sectors already dirty).
    pub l2: u64,
}

/// The L2 cache model.
#[derive(Clone, Debug)]
pub struct L2 {
    line: u64,
    capacity: usize,
    stamp: u64,
    /// Line -> (last use stamp, sectors held, dirty sectors).
    lines: HashMap<(u8, u64), (u64, u64, u64)>,
    /// Uses in order; entries whose stamp is older than the map's are stale.
    order: VecDeque<((u8, u64), u64)>,
}

impl L2 {
    /// An empty L2 of `bytes` bytes in lines of `line` bytes.
    pub fn new(bytes: u64, line: u64) -> L2 {
        L2 {
            line: line.max(1),
            capacity: (bytes / line.max(1)).max(1) as usize,
            stamp: 0,
            lines: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    /// Touches one line: `sectors` become held, and dirty when `write`; returns the sectors held and
    /// the sectors dirty before.
    fn touch(&mut self, key: (u8, u64), sectors: u64, write: bool) -> (u64, u64) {
        self.stamp += 1;
        let stamp = self.stamp;
        let (held, dirty) = self
            .lines
            .get(&key)
            .map_or((0, 0), |&(_, held, dirty)| (held, dirty));
        let now_dirty = if write { dirty | sectors } else { dirty };
        self.lines.insert(key, (stamp, held | sectors, now_dirty));
        self.order.push_back((key, stamp));
        while self.lines.len() > self.capacity {
            let Some((old, old_stamp)) = self.order.pop_front() else {
                break;
            };
            if self
                .lines
                .get(&old)
                .is_some_and(|&(s, _, _)| s == old_stamp)
            {
                self.lines.remove(&old);
            }
        }
        // Stale entries: keep the queue within a small multiple of the live lines.
        if self.order.len() > 4 * self.capacity.max(self.lines.len()) + 1024 {
            let lines = &self.lines;
            self.order
                .retain(|(key, s)| lines.get(key).is_some_and(|&(live, _, _)| live == *s));
        }
        (held, dirty)
    }

    /// Classifies a GM access line by line (writes sector by sector) and updates the cache.
    pub fn access(&mut self, gm: &GmAccess, write: bool) -> Split {
        let mut split = Split::default();
        for (start, end) in gm.ranges() {
            let mut at = start;
            while at < end {
                let line = at / self.line;
                let line_start = line * self.line;
                let line_end = (line_start + self.line).min(end);
                let first = (at - line_start) / SECTOR;
                let last = (line_end - line_start).div_ceil(SECTOR);
                let mask = (first..last.min(64)).fold(0u64, |m, s| m | 1 << s);
                let (held, dirty) = self.touch((gm.region, line), mask, write);
                // A read hits the sectors the line holds; a write hits those already dirty (the
                // others reach HBM once, at write-back).
                let hits = if write { dirty } else { held };
                for sector in first..last {
                    let from = (line_start + sector * SECTOR).max(at);
                    let to = (line_start + (sector + 1) * SECTOR).min(line_end);
                    if sector < 64 && hits & (1 << sector) != 0 {
                        split.l2 += to - from;
                    } else if write {
                        // The whole sector is written back once, whatever part of it this write fills.
                        split.hbm += SECTOR;
                    } else {
                        split.hbm += to - from;
                    }
                }
                at = line_end;
            }
        }
        split
    }
}

/// Shares `capacity` among transfers asking for at most `caps[i]` each (max-min fair); returns the rates.
pub fn share(capacity: f64, caps: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..caps.len()).collect();
    order.sort_by(|&a, &b| caps[a].total_cmp(&caps[b]));
    let mut rates = vec![0.0; caps.len()];
    let mut left = capacity;
    for (done, &i) in order.iter().enumerate() {
        let fair = left / (caps.len() - done) as f64;
        rates[i] = caps[i].min(fair);
        left -= rates[i];
    }
    rates
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(region: u8, offset: u64, bytes: u64) -> GmAccess {
        GmAccess {
            region,
            offset,
            bursts: 1,
            burst_bytes: bytes as u32,
            stride: 0,
            bytes,
        }
    }

    #[test]
    fn a_second_read_hits_only_when_the_tensor_fits() {
        // 4 lines of L2; a 2-line tensor read twice: the second read is all hits.
        let mut l2 = L2::new(2048, 512);
        assert_eq!(
            l2.access(&read(0, 0, 1024), false),
            Split { hbm: 1024, l2: 0 }
        );
        assert_eq!(
            l2.access(&read(0, 0, 1024), false),
            Split { hbm: 0, l2: 1024 }
        );
        // An 8-line tensor streamed twice through 4 lines: LRU evicts each line before its reuse.
        let mut l2 = L2::new(2048, 512);
        assert_eq!(l2.access(&read(1, 0, 4096), false).hbm, 4096);
        assert_eq!(
            l2.access(&read(1, 0, 4096), false),
            Split { hbm: 4096, l2: 0 }
        );
    }

    #[test]
    fn a_line_holds_only_the_sectors_read_so_far() {
        // Two tiles' reads meeting mid-line (a row of 448 bf16 = 896 bytes ends in the middle of its
        // second 512-byte line): the second tile's bytes of that line come from HBM too, so a matrix
        // read once in tiles costs its bytes of HBM, not less.
        let mut l2 = L2::new(1 << 20, 512);
        assert_eq!(
            l2.access(&read(4, 0, 896), false),
            Split { hbm: 896, l2: 0 }
        );
        assert_eq!(
            l2.access(&read(4, 896, 896), false),
            Split { hbm: 896, l2: 0 }
        );
        // Within a sector the second read hits the sector the first one brought in.
        assert_eq!(
            l2.access(&read(5, 0, 100), false),
            Split { hbm: 100, l2: 0 }
        );
        assert_eq!(
            l2.access(&read(5, 100, 60), false),
            Split { hbm: 32, l2: 28 }
        );
        // The whole range again: all held.
        assert_eq!(
            l2.access(&read(4, 0, 1792), false),
            Split { hbm: 0, l2: 1792 }
        );
    }

    #[test]
    fn writes_reach_hbm_once_per_line_while_it_stays_dirty() {
        let mut l2 = L2::new(1 << 20, 512);
        assert_eq!(
            l2.access(&read(2, 96, 288), true),
            Split { hbm: 288, l2: 0 }
        );
        // Rewriting the line: the 9 sectors written before are in L2, the other 7 are new.
        assert_eq!(
            l2.access(&read(2, 0, 512), true),
            Split { hbm: 224, l2: 288 }
        );
        assert_eq!(l2.access(&read(2, 0, 512), true), Split { hbm: 0, l2: 512 });
        // A read of a written line hits.
        assert_eq!(l2.access(&read(2, 0, 64), false), Split { hbm: 0, l2: 64 });
        // Bursts: two of 100 bytes, 1000 apart, in different lines.
        let strided = GmAccess {
            region: 3,
            offset: 0,
            bursts: 2,
            burst_bytes: 100,
            stride: 1000,
            bytes: 200,
        };
        assert_eq!(l2.access(&strided, false), Split { hbm: 200, l2: 0 });
    }

    #[test]
    fn a_sector_filled_in_pieces_by_several_cores_is_written_to_hbm_once_and_whole() {
        // A 256-byte output (64 f32 sums) written 4 bytes at a time by different cores, in an order
        // that interleaves the sectors: each sector reaches HBM once, whole.
        let mut l2 = L2::new(1 << 20, 512);
        let mut total = Split::default();
        for piece in 0..64u64 {
            let at = (piece % 8) * 32 + (piece / 8) * 4;
            let s = l2.access(&read(6, at, 4), true);
            total.hbm += s.hbm;
            total.l2 += s.l2;
        }
        assert_eq!(
            total,
            Split {
                hbm: 256,
                l2: 256 - 8 * 4
            }
        );
        // A partial sector written alone still costs its whole sector; never below the bytes written.
        let mut l2 = L2::new(1 << 20, 512);
        assert_eq!(l2.access(&read(7, 0, 100), true).hbm, 128);
        // Evicted (a 1-line L2 streaming another line) and written again: a new dirty period.
        let mut l2 = L2::new(512, 512);
        assert_eq!(l2.access(&read(8, 0, 4), true).hbm, 32);
        assert_eq!(l2.access(&read(8, 4, 4), true).hbm, 0);
        assert_eq!(l2.access(&read(9, 0, 4), true).hbm, 32);
        assert_eq!(l2.access(&read(8, 8, 4), true).hbm, 32);
    }

    #[test]
    fn bandwidth_is_shared_max_min_fairly() {
        assert_eq!(share(100.0, &[60.0]), vec![60.0]);
        assert_eq!(share(100.0, &[60.0, 60.0]), vec![50.0, 50.0]);
        // A capped transfer leaves its share to the others.
        assert_eq!(share(100.0, &[10.0, 60.0, 60.0]), vec![10.0, 45.0, 45.0]);
        assert!(share(100.0, &[]).is_empty());
    }
}
