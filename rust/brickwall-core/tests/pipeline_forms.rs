//! The closed-form bubble of each schedule equals the DAG simulator's on uniform stages with no
//! p2p latency, the case the closed forms are stated for.

use brickwall_core::pipeline::{bubble_fraction, bubble_fractions, Pipeline, Schedule};
use brickwall_core::Control;

fn simulated(schedule: Schedule, p: usize, m: usize, v: usize, f: f64, b: f64, w: Option<f64>) -> f64 {
    let (fw, bw, ww) = ([f], [b], w.map(|x| [x]));
    let pl = Pipeline {
        schedule,
        stages: p,
        microbatches: m,
        chunks: v,
        forward: &fw,
        backward: &bw,
        weight_grad: ww.as_ref().map(|x| &x[..]),
        p2p: 0.0,
    };
    pl.simulate(&Control::new()).unwrap().bubble_fraction
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12 * a.abs().max(b.abs()).max(1e-300)
}

#[test]
fn closed_forms_equal_the_simulator() {
    let times: [(f64, f64, f64); 4] = [(1.0, 2.0, 0.0), (1.0, 1.0, 1.0), (3.0, 5.0, 2.0), (2.0, 2.0, 0.5)];
    let mut checked = 0;
    for p in [1usize, 2, 4, 8] {
        for m in [1usize, 3, 8, 16, 24] {
            for (f, b, w) in times {
                let fused = |s| (s, 1usize, Some(w));
                let mut cases = vec![fused(Schedule::GPipe), fused(Schedule::OneFOneB)];
                if m % p == 0 {
                    cases.push((Schedule::Interleaved, 2, Some(w)));
                    cases.push((Schedule::Interleaved, 4, Some(w)));
                }
                if m >= p && w <= f.min(b) {
                    cases.push((Schedule::ZbH1, 1, Some(w)));
                }
                for (s, v, wg) in cases {
                    let sim = simulated(s, p, m, v, f, b, wg);
                    let form = bubble_fraction(s, p as f64, m as f64, v as f64, f, b, w);
                    assert!(
                        close(sim, form),
                        "{} p={p} m={m} v={v} f={f} b={b} w={w}: {sim} vs {form}",
                        s.name()
                    );
                    // The array form computes the same point (it normalises the times first).
                    let mut out = [0.0];
                    bubble_fractions(s, &[p as u64], &[m as u64], &[v as u64], f, b, wg, &mut out).unwrap();
                    assert!(close(out[0], form));
                    checked += 1;
                }
            }
            let sim = simulated(Schedule::Forward, p, m, 1, 1.5, 0.0, None);
            assert!(close(sim, bubble_fraction(Schedule::Forward, p as f64, m as f64, 1.0, 1.5, 0.0, 0.0)));
        }
    }
    assert!(checked > 200);
}
