/* Motor fader PID with touch and timeout. See motor.h. */
#include "motor.h"

void motor_init(struct motor *m)
{
    m->started = 0;
    m->last_ms = 0;
    m->integ = 0;
    m->target = 0;
    m->last_pos = 0;
    m->pwm = 0;
    m->state = MOTOR_IDLE;
    m->events = 0;
}

void motor_set_target(struct motor *m, uint16_t target, uint32_t now)
{
    if (m->state == MOTOR_TOUCHED)
        return;
    if (m->state != MOTOR_MOVING) {
        m->integ = 0;
        m->last_ms = now;
        m->last_pos = 0xFFFFu; /* no speed estimate yet */
    }
    m->target = target;
    m->started = now;
    m->state = MOTOR_MOVING;
}

static int32_t clamp32(int32_t v, int32_t lo, int32_t hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

static int16_t stop(struct motor *m, uint8_t state, uint8_t event)
{
    m->state = state;
    m->events |= event;
    m->integ = 0;
    m->pwm = 0;
    return 0;
}

int16_t motor_update(struct motor *m, const struct motor_config *c, uint16_t position,
                     uint8_t touched, uint32_t now)
{
    m->events = 0;
    if (touched) {
        if (m->state != MOTOR_TOUCHED)
            return stop(m, MOTOR_TOUCHED, MOTOR_EV_TOUCH);
        return 0;
    }
    if (m->state == MOTOR_TOUCHED) {
        /* The target from before the touch is stale: the host follows the
         * positions the hand just sent, and will send a new target if needed. */
        return stop(m, MOTOR_IDLE, MOTOR_EV_RELEASE);
    }
    if (m->state != MOTOR_MOVING)
        return 0;

    int32_t err = (int32_t)m->target - (int32_t)position;
    if ((err < 0 ? -err : err) <= (int32_t)c->tolerance)
        return stop(m, MOTOR_IDLE, MOTOR_EV_ARRIVED);
    if ((uint32_t)(now - m->started) >= c->timeout_ms)
        return stop(m, MOTOR_TIMEOUT, MOTOR_EV_TIMEOUT);

    uint32_t dt = now - m->last_ms;
    if (dt > 100u)
        dt = 100u; /* a stalled loop must not dump a huge step into the integral */
    int32_t p = ((int32_t)c->kp * err) / 256;
    if (dt > 0) {
        m->integ = clamp32(m->integ + err * (int32_t)dt, -c->integ_max, c->integ_max);
    }
    int32_t i = ((int32_t)c->ki * m->integ) / 65536;
    int32_t d = 0;
    if (dt > 0 && m->last_pos != 0xFFFFu) {
        /* Derivative of the measurement, not of the error: a new target does
         * not kick the motor. */
        int32_t speed = ((int32_t)position - (int32_t)m->last_pos) / (int32_t)dt;
        d = -((int32_t)c->kd * speed) / 256;
    }
    m->last_pos = position;
    m->last_ms = now;

    int32_t out = clamp32(p + i + d, -c->pwm_max, c->pwm_max);
    if (out > 0 && out < c->pwm_min)
        out = c->pwm_min;
    else if (out < 0 && out > -c->pwm_min)
        out = -c->pwm_min;
    else if (out == 0)
        out = err > 0 ? c->pwm_min : -c->pwm_min; /* outside tolerance: keep moving */
    m->pwm = (int16_t)out;
    return m->pwm;
}
