"""A directly written numpy GGNN (forward and hand-derived backward), the oracle for the IR GGNN's gradients.

It reads the parameters of an IR model by node name (``msg{k}``, ``gru``, ``readout``, ``out``) and the
instance data of :func:`ampsim.models.ggnn.graph_data` (molecule granularity), and returns the summed
squared error and the gradient of ``loss / n_molecules`` (the MSE node's mean) for every parameter.
"""

from __future__ import annotations

import numpy as np


def _sig(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def numpy_ggnn(params: dict[str, dict[str, np.ndarray]], data: dict, hidden: int, steps: int):
    """Return ``(sum of squared errors, {node: {param: gradient}})`` for one instance."""
    H = hidden
    P = params
    x = data["x"].astype(np.float64)
    n = x.shape[0]
    h = np.zeros((n, H))
    h[:, :x.shape[1]] = x
    n_types = len(data["src"])
    Wx, Wh, bx, bh = (P["gru"][k] for k in ("Wx", "Wh", "bx", "bh"))
    tape = []
    for _ in range(steps):
        m = np.zeros((n, H))
        for k in range(n_types):
            src, dst = data["src"][k], data["dst"][k]
            if len(src):
                np.add.at(m, dst, (h @ P[f"msg{k}"]["W"] + P[f"msg{k}"]["b"])[src])
        gx, gh = m @ Wx + bx, h @ Wh + bh
        rz = _sig(gx[:, :2 * H] + gh[:, :2 * H])
        r, z, hn = rz[:, :H], rz[:, H:], gh[:, 2 * H:]
        nn = np.tanh(gx[:, 2 * H:] + r * hn)
        tape.append((m, h, rz, hn, nn))
        h = (1 - z) * nn + z * h
    R = P["readout"]
    zc = np.concatenate([h, x], axis=1)
    g = _sig(zc @ R["Wi"] + R["bi"])
    t = h @ R["Wj"] + R["bj"]
    pooled = np.zeros((data["n_mol"], t.shape[1]))
    np.add.at(pooled, data["mol"], g * t)
    out = pooled @ P["out"]["W"] + P["out"]["b"]
    diff = out - data["y"]
    loss = float(np.sum(diff * diff))

    grads = {name: {k: np.zeros_like(v) for k, v in p.items()} for name, p in P.items()}
    dout = 2 * diff / data["n_mol"]
    grads["out"]["W"] += pooled.T @ dout
    grads["out"]["b"] += dout.sum(0)
    dr = (dout @ P["out"]["W"].T)[data["mol"]]
    dt, da = dr * g, dr * t * g * (1 - g)
    grads["readout"]["Wi"] += zc.T @ da
    grads["readout"]["bi"] += da.sum(0)
    grads["readout"]["Wj"] += h.T @ dt
    grads["readout"]["bj"] += dt.sum(0)
    dh = (da @ R["Wi"].T)[:, :H] + dt @ R["Wj"].T
    for m, hp, rz, hn, nn in reversed(tape):
        r, z = rz[:, :H], rz[:, H:]
        dnp = dh * (1 - z) * (1 - nn * nn)
        drz = np.concatenate([dnp * hn, dh * (hp - nn)], axis=1) * rz * (1 - rz)
        dgx = np.concatenate([drz, dnp], axis=1)
        dgh = np.concatenate([drz, dnp * r], axis=1)
        grads["gru"]["Wx"] += m.T @ dgx
        grads["gru"]["Wh"] += hp.T @ dgh
        grads["gru"]["bx"] += dgx.sum(0)
        grads["gru"]["bh"] += dgh.sum(0)
        dm = dgx @ Wx.T
        dh = dgh @ Wh.T + dh * z
        for k in range(n_types):
            src, dst = data["src"][k], data["dst"][k]
            if not len(src):
                continue
            dp = np.zeros((n, H))
            np.add.at(dp, src, dm[dst])
            grads[f"msg{k}"]["W"] += hp.T @ dp
            grads[f"msg{k}"]["b"] += dp.sum(0)
            dh = dh + dp @ P[f"msg{k}"]["W"].T
    return loss, grads
