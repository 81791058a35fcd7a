/*
 * Reference box on an ATmega32U4 board (Arduino Leonardo, SparkFun Pro
 * Micro and clones), built against Debian's arduino-core-avr for its USB CDC
 * serial port (Serial): the box appears as /dev/ttyACM* with the board's USB
 * serial number, and /dev/serial/by-id/ names it stably.
 *
 * Pin use (Arduino numbers; all exist on the Pro Micro's headers, on the
 * Leonardo D14/D15/D16 are MISO/SCK/MOSI on the 6-pin ICSP header):
 *   D0..D7       encoder A/B contacts (enc 1: D0/D1 ... enc 4: D6/D7)
 *   A0           fader multiplexer SIG     - CD74HC4067 #1, channels 0..7
 *   A1           button multiplexer SIG    - CD74HC4067 #2: 0..7 mutes, 8..11 pushes
 *   D8, D9, A2, A3   S0..S3 of both multiplexers
 *   D10 / D16 / D15  74HC595 latch / data (MOSI) / clock (SCK) for 8 LEDs
 * The protocol is the same as every other box: firmware/PROTOCOL.md.
 */
#include <Arduino.h>

extern "C" {
#include "box.h"
}

static const uint8_t ENC_PINS[8] = {0, 1, 2, 3, 4, 5, 6, 7};
static const uint8_t MUX_SELECT[4] = {8, 9, A2, A3};
static const uint8_t LED_LATCH = 10, LED_DATA = 16, LED_CLOCK = 15;
static const uint8_t PIN_MUX_BASE = 32; /* read_pin(32 + n) = button multiplexer channel n */

static void mux_select(uint8_t ch)
{
    for (uint8_t k = 0; k < 4; k++)
        digitalWrite(MUX_SELECT[k], (ch >> k) & 1u);
    delayMicroseconds(5); /* switch settling, see the Uno target */
}

extern "C" {

static uint32_t hw_millis(void *)
{
    return millis();
}

static uint16_t hw_adc(void *, uint8_t ch)
{
    mux_select(ch);
    return (uint16_t)analogRead(A0);
}

static uint8_t hw_pin(void *, uint8_t pin)
{
    if (pin >= PIN_MUX_BASE) {
        mux_select((uint8_t)(pin - PIN_MUX_BASE));
        return (uint8_t)digitalRead(A1);
    }
    return (uint8_t)digitalRead(pin);
}

static void hw_write(void *, const uint8_t *bytes, size_t n)
{
    /* CDC writes block while the host is reading; when no program has the
     * port open the core drops the data after a short timeout instead. */
    Serial.write(bytes, n);
}

static uint8_t led_bits;

static void hw_led(void *, uint8_t led, uint8_t on)
{
    if (on)
        led_bits |= (uint8_t)(1u << led);
    else
        led_bits &= (uint8_t) ~(1u << led);
    shiftOut(LED_DATA, LED_CLOCK, MSBFIRST, led_bits);
    digitalWrite(LED_LATCH, HIGH);
    digitalWrite(LED_LATCH, LOW);
}

} /* extern "C" */

static const struct box_hw HW = {hw_millis, hw_adc, hw_pin, hw_write, hw_led, NULL, NULL, NULL};
static struct box BOX;
static struct box_config CFG;
static bool announced;

void setup()
{
    for (uint8_t k = 0; k < 8; k++)
        pinMode(ENC_PINS[k], INPUT_PULLUP);
    for (uint8_t k = 0; k < 4; k++)
        pinMode(MUX_SELECT[k], OUTPUT);
    pinMode(A1, INPUT_PULLUP);
    pinMode(LED_LATCH, OUTPUT);
    pinMode(LED_DATA, OUTPUT);
    pinMode(LED_CLOCK, OUTPUT);
    Serial.begin(115200); /* the rate is ignored by USB CDC; any rate works */

    box_config_defaults(&CFG);
    CFG.name = "surfaced-ref-box";
    CFG.n_faders = 8;
    CFG.n_buttons = 8;
    CFG.n_encoders = 4;
    CFG.n_leds = 8;
    CFG.faders_per_poll = 1;
    for (uint8_t i = 0; i < 8; i++) {
        CFG.fader_adc[i] = i;
        CFG.button_pin[i] = (uint8_t)(PIN_MUX_BASE + i);
    }
    for (uint8_t i = 0; i < 4; i++) {
        CFG.enc_a_pin[i] = ENC_PINS[2 * i];
        CFG.enc_b_pin[i] = ENC_PINS[2 * i + 1];
        CFG.enc_push_pin[i] = (uint8_t)(PIN_MUX_BASE + 8 + i);
    }
    box_init(&BOX, &HW, NULL, &CFG);
}

void loop()
{
    /* Announce once a host has the port open (DTR up), since opening the
     * CDC port does not reset a 32U4 the way it resets an Uno. */
    if (!announced && Serial) {
        box_announce(&BOX);
        announced = true;
    }
    while (Serial.available() > 0)
        box_rx_byte(&BOX, (uint8_t)Serial.read());
    box_poll(&BOX);
}
