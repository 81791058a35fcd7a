/*
 * Motorised fader position control: a PID loop from the fader's own wiper
 * reading to a signed PWM duty for an H-bridge, with the two safety rules a
 * motor fader needs:
 *
 *   - touch wins: while the capacitive touch track reports a finger, the
 *     motor is off and host targets are not chased (fighting a hand is both
 *     unpleasant and a stall);
 *   - every move has a time limit: a fader that has not arrived within
 *     timeout_ms (blocked, worn belt, wrong wiring) is switched off instead of
 *     stalling the motor and H-bridge until they overheat.
 *
 * Integer arithmetic only (gains in 1/256 units), so an 8-bit AVR runs it.
 */
#ifndef SURF_MOTOR_H
#define SURF_MOTOR_H

#include <stdint.h>

struct motor_config {
    int16_t kp;          /* PWM per 256 counts of error */
    int16_t ki;          /* PWM per 65536 count-milliseconds of error */
    int16_t kd;          /* PWM per 256 counts/ms of wiper speed */
    int16_t pwm_max;     /* full duty, e.g. 255 for 8-bit PWM */
    int16_t pwm_min;     /* least duty that moves the fader (static friction) */
    uint16_t tolerance;  /* arrived when |target - position| <= this (14-bit counts) */
    uint16_t timeout_ms; /* give up a move after this long */
    int32_t integ_max;   /* anti-windup clamp of the integral (count-ms) */
};

enum motor_state {
    MOTOR_IDLE = 0,    /* no move in progress (arrived, or never asked) */
    MOTOR_MOVING = 1,  /* chasing target */
    MOTOR_TOUCHED = 2, /* a finger is on the fader: motor off */
    MOTOR_TIMEOUT = 3  /* the last move gave up: motor off until a new target */
};

/* Events returned by motor_update(), for the box to act on once. */
#define MOTOR_EV_ARRIVED 0x01u
#define MOTOR_EV_TIMEOUT 0x02u
#define MOTOR_EV_TOUCH 0x04u
#define MOTOR_EV_RELEASE 0x08u

struct motor {
    uint32_t started;   /* millis() when the current move began */
    uint32_t last_ms;   /* millis() of the previous update */
    int32_t integ;      /* integral of the error, count-ms */
    uint16_t target;    /* 14-bit target position */
    uint16_t last_pos;  /* position at the previous update, for the D term */
    int16_t pwm;        /* last output */
    uint8_t state;      /* enum motor_state */
    uint8_t events;     /* MOTOR_EV_* raised by the last update */
};

/* Idle, motor off. */
void motor_init(struct motor *m);

/* New target from the host. Ignored while touched (the hand wins); otherwise
 * starts a move and restarts its time limit. */
void motor_set_target(struct motor *m, uint16_t target, uint32_t now);

/* Run the control loop once with the current wiper position and touch state.
 * Returns the PWM duty to apply, -pwm_max..pwm_max (0 = motor off); m->events
 * tells what happened in this step. */
int16_t motor_update(struct motor *m, const struct motor_config *c, uint16_t position,
                     uint8_t touched, uint32_t now);

#endif
