"""EVENT codes: one table for firmware and host.

Why one table: the board sends only small integers; the host names and scales them from here,
so a code never means two things. Ranges are reserved per subsystem (docs/architecture.md).
Each entry: code -> (name, meaning of a, meaning of b).
"""

from gaitfw.compat import const

# core 0-15
EV_BOOT = const(1)  # a: firmware version (major*100+minor), b: reset cause
EV_CMD = const(2)  # a: command id, b: result (0 ok)
EV_SENSOR_FAULT = const(3)  # a: channel index, b: status flags (protocol.ST_*)
EV_CONFIG = const(4)  # a: config generation, b: 0 loaded / 1 default used
EV_BLE_LINK = const(5)  # a: 1 a BLE host session started (START/RESEND) / 0 disconnected, b: MTU
# 10-15: updates (gaitfw/update.py). a: artifact kind (1 model, 2 calibration, 3 templates)
EV_UPD_ACTIVE = const(10)  # a pushed artifact passed its self-test and runs. b: its version
EV_UPD_FAILED = const(11)  # a pushed artifact failed its self-test; the old one runs. b: version
EV_UPD_ROLLBACK = const(12)  # rolled back on request. b: the version that runs now
EV_UPD_BOOT_PENDING = const(13)  # boot dropped a slot whose self-test or trial never finished. b: active version
EV_UPD_BOOT_FALLBACK = const(14)  # boot found the active slot damaged. b: version now active (-1 none)
EV_UPD_CONFIRMED = const(15)  # the new artifact ran its trial (5 s of samples): kept. b: version

NAMES = {
    EV_BOOT: ("boot", "fw_version", "reset_cause"),
    EV_CMD: ("command", "cmd_id", "result"),
    EV_SENSOR_FAULT: ("sensor_fault", "channel", "flags"),
    EV_CONFIG: ("config", "generation", "defaulted"),
    EV_BLE_LINK: ("ble_link", "up", "mtu"),
    EV_UPD_ACTIVE: ("update_active", "artifact", "version"),
    EV_UPD_FAILED: ("update_failed", "artifact", "version"),
    EV_UPD_ROLLBACK: ("update_rollback", "artifact", "version"),
    EV_UPD_BOOT_PENDING: ("update_boot_pending", "artifact", "version"),
    EV_UPD_BOOT_FALLBACK: ("update_boot_fallback", "artifact", "version"),
    EV_UPD_CONFIRMED: ("update_confirmed", "artifact", "version"),
}


def name(code):
    entry = NAMES.get(code)
    return entry[0] if entry else "event_%d" % code

# --- CSM / insole 16-47 (owner: CSM) ---
# side: 0 left, 1 right. Times in ms between the app's t_ms stamps.
EV_HEEL_STRIKE = const(16)  # initial contact. a: swing ms before it (0 unknown), b: stride ms
EV_FOOT_FLAT = const(17)  # heel and ball loaded. a: ms since heel strike, b: 0
EV_HEEL_OFF = const(18)  # heel unloads, ball loaded. a: ms since heel strike, b: 0
EV_TOE_OFF = const(19)  # last sensor unloads. a: stance ms, b: cadence steps/min x 100
EV_CSM_SENSOR = const(20)  # one sensor's CSM decision changed. a: 0 heel / 1 ball, b: 0 off / 1 on
EV_INSOLE_STATUS = const(21)  # foot STATUS bits changed (foot.ST_*). a: new bits, b: changed bits

NAMES.update({
    EV_HEEL_STRIKE: ("heel_strike", "swing_ms", "stride_ms"),
    EV_FOOT_FLAT: ("foot_flat", "ms_since_hs", "unused"),
    EV_HEEL_OFF: ("heel_off", "ms_since_hs", "unused"),
    EV_TOE_OFF: ("toe_off", "stance_ms", "cadence_x100"),
    EV_CSM_SENSOR: ("csm_sensor", "sensor", "state"),
    EV_INSOLE_STATUS: ("insole_status", "flags", "changed"),
})

# --- MGait / knee sleeve / feedback 48-95 (owner: MGait) ---
# side: 0 left, 1 right, 2 both. Angles in centidegrees (cdeg), lengths mm, times ms.
EV_MG_STEP = const(48)  # a: step length mm (front limb = side), b: step time ms
EV_MG_STRIDE = const(49)  # a: stride length mm (this step + previous), b: stride time ms
EV_MG_SPEED = const(50)  # a: speed mm/s over the last five strides, b: cadence steps/min x10
EV_MG_STANCE = const(51)  # a: stance time ms, b: swing time ms (of `side`, at its contact)
EV_MG_IC = const(52)  # initial contact (knee minimum, front limb) a: alpha_f cdeg, b: beta_f cdeg
EV_MG_FO = const(53)  # foot-off (hip minimum, back limb) a: alpha_b cdeg, b: beta_b cdeg
EV_MG_ASYM = const(54)  # per stride a: asymmetry percent x100, b: stride index
EV_MG_BUZZ = const(55)  # buzzer on, a: asymmetry percent x100, b: pattern id
EV_MG_BUZZ_OFF = const(56)  # buzzer off, a: asymmetry percent x100, b: 0
EV_MG_LED = const(57)  # LED on (step length reduced), a: recent mean step mm, b: baseline mm
EV_MG_LED_OFF = const(58)  # LED off, a: recent mean step mm, b: baseline mm
EV_MG_SPEED_TREND = const(59)  # downward speed notice, a: speed mm/s, b: drop percent x100
EV_MG_RLS_DONE = const(60)  # RLS calibration done, a: l1 mm, b: l2 mm
EV_MG_RLS_D5 = const(61)  # with EV_MG_RLS_DONE, a: d5 mm, b: steps used
EV_MG_CALIB = const(62)  # standing calibration done, a: samples used, b: 1 if motion seen
EV_MG_STEP_REJECT = const(63)  # step not reported, a: reason (1 saturated, 2 dropout, 3 out of range), b: mm
EV_MG_STEP_LOST = const(64)  # step sequence broken, a: reason (1 timeout, 2 resync), b: 0
EV_MG_RLS_STEP = const(65)  # RLS calibration step, a: prediction error mm, b: forgetting factor x1000

NAMES.update(
    {
        EV_MG_STEP: ("mg_step", "length_mm", "step_ms"),
        EV_MG_STRIDE: ("mg_stride", "length_mm", "stride_ms"),
        EV_MG_SPEED: ("mg_speed", "speed_mm_s", "cadence_spm_x10"),
        EV_MG_STANCE: ("mg_stance_swing", "stance_ms", "swing_ms"),
        EV_MG_IC: ("mg_initial_contact", "alpha_f_cdeg", "beta_f_cdeg"),
        EV_MG_FO: ("mg_foot_off", "alpha_b_cdeg", "beta_b_cdeg"),
        EV_MG_ASYM: ("mg_asymmetry", "asym_pct_x100", "stride_index"),
        EV_MG_BUZZ: ("mg_buzzer_on", "asym_pct_x100", "pattern"),
        EV_MG_BUZZ_OFF: ("mg_buzzer_off", "asym_pct_x100", "unused"),
        EV_MG_LED: ("mg_led_on", "mean_step_mm", "baseline_mm"),
        EV_MG_LED_OFF: ("mg_led_off", "mean_step_mm", "baseline_mm"),
        EV_MG_SPEED_TREND: ("mg_speed_trend", "speed_mm_s", "drop_pct_x100"),
        EV_MG_RLS_DONE: ("mg_rls_done", "l1_mm", "l2_mm"),
        EV_MG_RLS_D5: ("mg_rls_d5", "d5_mm", "steps"),
        EV_MG_CALIB: ("mg_standing_calibration", "samples", "motion_seen"),
        EV_MG_STEP_REJECT: ("mg_step_rejected", "reason", "length_mm"),
        EV_MG_STEP_LOST: ("mg_step_lost", "reason", "unused"),
        EV_MG_RLS_STEP: ("mg_rls_step", "error_mm", "lambda_x1000"),
    }
)

# --- learned models 96-127 (owner: learned models) ---
# side: the board's side. Emitted by gaitfw.student.StudentProcessor every `hop` samples.
EV_ST_PHASE = const(96)  # phase changed. a: class index (model card; phase: 0 HS 1 ST 2 HO 3 SW), b: margin top1-top2 (int8 LSB)
EV_ST_GRF = const(97)  # total vertical force estimate. a: force in 0.1 N, b: raw int8 output
EV_ST_MODEL = const(98)  # student model state. a: 0 loaded / 1 file missing / 2 invalid, b: model RAM bytes

NAMES.update(
    {
        EV_ST_PHASE: ("student_phase", "phase", "margin"),
        EV_ST_GRF: ("student_grf", "force_dN", "raw_int8"),
        EV_ST_MODEL: ("student_model", "state", "ram_bytes"),
    }
)
