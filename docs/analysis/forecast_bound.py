#!/usr/bin/env python3
"""What a planner could reach with a given sun and draw forecast: a bound for issue 5.

A receding-horizon linear program (model-predictive control) over MODEL.md's lumped tank:
every hour it plans the next HORIZON hours (minimum DHW grid import, the tank never below
MODEL.md §6's reserve plus the quarter hour's draw, heat pump power up to P_max, freely
modulating, no start limit) from forecasts, and the first hour of the plan is replayed
against the real year. It knows the tank's heat exactly. With the real sun and real draws as
"forecasts" it reproduces the perfect-foresight optimum (MODEL.md §6); with forecasts taken
only from the dwelling's own history it shows what any causal controller with those
forecasts could hope for at best (it has every other advantage).

    apt-get install python3-numpy python3-scipy     # Debian; the build does not need them
    python3 docs/analysis/forecast_bound.py --year tests/fixtures/years/reference-year-A.csv \
        --sun persist --draws real

--sun:   real | persist (yesterday) | mean7 | median7 | min7 (the last 7 days per quarter
         hour), each scaled by how today compares so far (0.3-1.5, as the smart strategy
         does) | noisy:SIGMA (the real sun times a per-day log-normal error, like a
         day-ahead weather forecast that gets the shape right and the amount wrong)
--draws: real | mean14:SAFETY (mean of the last 14 days per quarter hour x SAFETY)

Prints DHW grid import, electricity, PV-covered (kWh) and the quarter hours after which
less than half the reserve was left (a stand-in for comfort violations; the lumped tank
has no thermocline). Takes about four minutes a year on one core.
"""

import argparse
import csv
import json

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog

DT = 0.25  # h
CW = 1.163e-3  # kWh/(l K)


def cop(t_k, t_src, eta, lo, hi):
    t_k, t_src = t_k + 273.15, t_src + 273.15
    return np.clip(eta * t_k / (t_k - t_src), lo, hi)


def load(path):
    rows = list(csv.DictReader(open(path)))
    side = json.load(open(path[: -len(".csv")] + ".json"))
    col = lambda c: np.array([float(r[c]) for r in rows])  # noqa: E731
    t_out = col("outdoor_temp_c")
    supply = np.clip(35 + (t_out + 10) * (25 - 35) / 25, 25, 35)
    base = (col("household_w") + col("ventilation_w")) / 1000 + col(
        "space_heating_demand_w_th"
    ) / 1000 / cop(supply + 3, t_out - 6, 0.5, 1.5, 6.5)
    surplus = np.maximum(0, col("pv_w") / 1000 - base)
    draws = col("dhw_draw_w_th") * DT / 1000
    return side["tank"], t_out, surplus, draws


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--year", required=True)
    ap.add_argument("--sun", default="persist")
    ap.add_argument("--draws", default="real")
    ap.add_argument("--horizon-hours", type=float, default=36)
    ap.add_argument("--days", type=int, default=366)
    a = ap.parse_args()

    tank, t_out, S, D = load(a.year)
    n = min(len(S), 96 * a.days)
    v = tank["volume_l"]
    q_max = CW * v * (tank["t_set_c"] - tank["t_cold_c"])
    reserve = 0.2 * q_max
    loss = tank["ua_w_per_k"] * DT / 1000 / (CW * v)  # share of the heat lost per step
    gain = tank["ua_w_per_k"] * DT / 1000 * (tank["t_ambient_c"] - tank["t_cold_c"])
    C = cop(tank["t_set_c"] + 5, t_out - 6, 0.45, 1.5, 5)
    p_max = np.clip(3.2 + 0.04 * (t_out - 7), 2.4, 3.6)
    H = int(a.horizon_hours * 4)
    noise = None
    if a.sun.startswith("noisy:"):
        sigma = float(a.sun.split(":")[1])
        noise = np.exp(np.random.default_rng(1).normal(0, sigma, len(S) // 96 + 2))

    def day_profiles(x, t, days):
        base = t - t % 96
        return [x[base - 96 * k : base - 96 * k + 96] for k in range(1, days + 1) if base - 96 * k >= 0]

    def sun(t):
        if a.sun == "real":
            return S[t : t + H]
        if noise is not None:
            return np.array([S[t + i] * noise[(t + i) // 96] for i in range(min(H, len(S) - t))])
        days = {"persist": 1, "mean7": 7, "median7": 7, "min7": 7}[a.sun]
        past = day_profiles(S, t, days)
        if not past:
            return np.zeros(H)
        prof = {"persist": lambda p: p[0], "mean7": lambda p: np.mean(p, 0),
                "median7": lambda p: np.median(p, 0), "min7": lambda p: np.min(p, 0)}[a.sun](past)
        base, s = t - t % 96, t % 96
        usual = prof[:s].sum()
        today = np.clip(S[base:t].sum() / usual, 0.3, 1.5) if usual > 0.2 else 1.0
        return np.array([prof[(s + i) % 96] * (today if s + i < 96 else 1.0) for i in range(H)])

    def draws(t):
        if a.draws == "real":
            return D[t : t + H]
        safety = float(a.draws.split(":")[1])
        past = day_profiles(D, t, 14)
        prof = np.mean(past, 0) if past else np.full(96, D[:96 * 14].sum() / 14 / 96)
        return np.array([prof[(t + i) % 96] for i in range(H)]) * safety

    def plan(t, q0):
        s_f, d_f = sun(t)[: min(H, n - t)], draws(t)[: min(H, n - t)]
        h = len(s_f)
        # variables: heat h, grid g, stored heat Q (h+1), comfort slack u
        ih, ig, iq, iu = 0, h, 2 * h, 3 * h + 1
        nv = 4 * h + 1
        c = np.zeros(nv)
        c[ig : ig + h] = 1.0
        c[iu : iu + h] = 50.0  # running short is far worse than importing
        c[iq + h] = -0.2  # heat left at the horizon is worth something (no myopia)
        r, cc, val, b = [], [], [], []
        for k in range(h):
            r += [k, k, k]
            cc += [iq + k + 1, iq + k, ih + k]
            val += [1, -(1 - loss), -1]
            b.append(gain - d_f[k])
        r.append(h), cc.append(iq), val.append(1), b.append(q0)
        a_eq = sp.csr_matrix((val, (r, cc)), shape=(h + 1, nv))
        r, cc, val, bu = [], [], [], np.zeros(2 * h)
        for k in range(h):
            r += [k, k, h + k, h + k]
            cc += [ih + k, ig + k, iq + k, iu + k]
            val += [1 / C[t + k], -1, -1, -1]
            bu[k] = s_f[k] * DT
            bu[h + k] = -reserve - d_f[k]
        a_ub = sp.csr_matrix((val, (r, cc)), shape=(2 * h, nv))
        bounds = [(0, p_max[t + k] * DT) for k in range(h)] + [(0, None)] * h
        bounds += [(0, q_max)] * (h + 1) + [(0, None)] * h
        out = linprog(c, A_ub=a_ub, b_ub=bu, A_eq=a_eq, b_eq=np.array(b), bounds=bounds, method="highs")
        if out.status != 0:
            raise SystemExit(f"the plan at step {t} failed: {out.message}")
        return out.x[:h]

    q = CW * v * (tank["t_init_c"] - tank["t_cold_c"])
    imp = el = pv = 0.0
    short = 0
    for t in range(0, n, 4):
        heat = plan(t, q)
        for k in range(min(4, n - t)):
            i = t + k
            q = q * (1 - loss) + gain
            if q - D[i] < 0.5 * reserve:
                short += 1
            q = min(max(q - D[i], 0.0) + heat[k], q_max)
            e = heat[k] / C[i]
            el += e
            pv += min(e, S[i] * DT)
            imp += e - min(e, S[i] * DT)
    print(f"sun {a.sun}, draws {a.draws}: DHW grid import {imp:.1f} kWh, electricity {el:.1f}, "
          f"PV-covered {pv:.1f}, quarter hours short {short}")


if __name__ == "__main__":
    main()
