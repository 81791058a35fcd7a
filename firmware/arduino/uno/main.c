/*
 * Reference box on an Arduino Uno (ATmega328P, 16 MHz), bare metal with
 * avr-libc: no Arduino core needed, so it builds with gcc-avr alone and runs
 * in simavr.
 *
 * The Uno has no native USB: the protocol runs on the hardware UART (D0/D1)
 * at 115200 baud, which the board's USB-serial bridge (ATmega16U2) presents
 * to the host as /dev/ttyACM*. Pin use (see firmware/README.md):
 *   D2..D9   encoder A/B contacts (PD2..PD7, PB0, PB1), pull-ups on
 *   A0       fader multiplexer SIG (ADC0)  - CD74HC4067 #1, channels 0..7
 *   D12      button multiplexer SIG (PB4)  - CD74HC4067 #2: 0..7 mutes, 8..11 pushes
 *   A2..A5   S0..S3 of both multiplexers (PC2..PC5)
 *   D10/D11/D13  74HC595 latch / data / clock (PB2, PB3, PB5) for 8 LEDs
 *
 * Register facts are from the ATmega328P datasheet (Microchip DS40002061):
 * USART0 baud with U2X0 (section 20.3.1 / table 20-6: UBRR = 16 for 115200 at
 * 16 MHz, -2.1% error with U2X, against 3.5% without), Timer0 CTC for the
 * 1 ms tick (section 15), ADC prescaler 128 for a 125 kHz ADC clock within the
 * 50..200 kHz range for full resolution (section 24.4).
 */
#include <avr/interrupt.h>
#include <avr/io.h>
#include <util/delay.h>

#include "box.h"

#define BAUD_UBRR 16u /* 115200 baud at 16 MHz with U2X0 */
#define RX_RING 64u   /* power of two: index wrap by mask */
#define PIN_MUX_BASE 32u /* read_pin(32 + n) = button multiplexer channel n */

static volatile uint32_t ticks_ms;
static volatile uint8_t rx_ring[RX_RING];
static volatile uint8_t rx_head, rx_tail;

ISR(TIMER0_COMPA_vect)
{
    ticks_ms++;
}

ISR(USART_RX_vect)
{
    uint8_t b = UDR0;
    uint8_t next = (uint8_t)((rx_head + 1u) & (RX_RING - 1u));
    if (next != rx_tail) { /* full: drop; the SLIP decoder will count the damage */
        rx_ring[rx_head] = b;
        rx_head = next;
    }
}

static uint32_t hw_millis(void *ctx)
{
    (void)ctx;
    uint32_t t;
    uint8_t s = SREG;
    cli(); /* a 32-bit read is four instructions: keep the ISR out */
    t = ticks_ms;
    SREG = s;
    return t;
}

static void mux_select(uint8_t ch)
{
    PORTC = (uint8_t)((PORTC & 0xC3u) | ((ch & 0x0Fu) << 2));
    /* CD74HC4067 switching plus the RC of the ADC sample capacitor through
     * the switch's ~70 ohm on-resistance: a few microseconds is plenty. */
    _delay_us(5);
}

static uint16_t hw_adc(void *ctx, uint8_t ch)
{
    (void)ctx;
    mux_select(ch);
    ADCSRA |= (uint8_t)(1u << ADSC);
    while (ADCSRA & (1u << ADSC)) {
    }
    return ADC;
}

static uint8_t hw_pin(void *ctx, uint8_t pin)
{
    (void)ctx;
    if (pin >= PIN_MUX_BASE) {
        mux_select((uint8_t)(pin - PIN_MUX_BASE));
        return (PINB >> PB4) & 1u;
    }
    if (pin <= 7u)
        return (PIND >> pin) & 1u;
    if (pin <= 13u)
        return (PINB >> (pin - 8u)) & 1u;
    return 1u;
}

static void hw_write(void *ctx, const uint8_t *bytes, size_t n)
{
    (void)ctx;
    while (n--) {
        while (!(UCSR0A & (1u << UDRE0))) {
        }
        UDR0 = *bytes++;
    }
}

static uint8_t led_bits;

static void shift_out_leds(void)
{
    for (int8_t bit = 7; bit >= 0; bit--) {
        if (led_bits & (1u << bit))
            PORTB |= (uint8_t)(1u << PB3);
        else
            PORTB &= (uint8_t) ~(1u << PB3);
        PORTB |= (uint8_t)(1u << PB5);
        PORTB &= (uint8_t) ~(1u << PB5);
    }
    PORTB |= (uint8_t)(1u << PB2); /* latch: all LEDs change together */
    PORTB &= (uint8_t) ~(1u << PB2);
}

static void hw_led(void *ctx, uint8_t led, uint8_t on)
{
    (void)ctx;
    if (on)
        led_bits |= (uint8_t)(1u << led);
    else
        led_bits &= (uint8_t) ~(1u << led);
    shift_out_leds();
}

static const struct box_hw HW = {hw_millis, hw_adc, hw_pin, hw_write, hw_led, NULL, NULL, NULL};

static struct box BOX;
static struct box_config CFG;

static void setup_hardware(void)
{
    /* Encoder inputs with pull-ups: D2..D7 (PD2..PD7), D8, D9 (PB0, PB1). */
    DDRD &= 0x03u;
    PORTD |= 0xFCu;
    DDRB &= (uint8_t) ~((1u << PB0) | (1u << PB1) | (1u << PB4));
    PORTB |= (uint8_t)((1u << PB0) | (1u << PB1) | (1u << PB4)); /* PB4: button mux SIG */
    /* 74HC595 pins out; multiplexer select lines out. */
    DDRB |= (uint8_t)((1u << PB2) | (1u << PB3) | (1u << PB5));
    DDRC |= 0x3Cu;
    /* ADC: AVcc reference, channel 0, prescaler 128. */
    ADMUX = (uint8_t)(1u << REFS0);
    ADCSRA = (uint8_t)((1u << ADEN) | (1u << ADPS2) | (1u << ADPS1) | (1u << ADPS0));
    DIDR0 = 0x01u; /* no digital input buffer on the analog pin */
    /* Timer0: CTC, clk/64, 250 counts = 1 ms. */
    TCCR0A = (uint8_t)(1u << WGM01);
    TCCR0B = (uint8_t)((1u << CS01) | (1u << CS00));
    OCR0A = 249u;
    TIMSK0 = (uint8_t)(1u << OCIE0A);
    /* USART0: 115200 8N1, receive interrupt. */
    UCSR0A = (uint8_t)(1u << U2X0);
    UBRR0H = 0;
    UBRR0L = BAUD_UBRR;
    UCSR0C = (uint8_t)((1u << UCSZ01) | (1u << UCSZ00));
    UCSR0B = (uint8_t)((1u << RXEN0) | (1u << TXEN0) | (1u << RXCIE0));
}

static void configure(struct box_config *c)
{
    box_config_defaults(c);
    c->name = "surfaced-ref-box";
    c->n_faders = 8;
    c->n_buttons = 8;
    c->n_encoders = 4;
    c->n_leds = 8;
    c->faders_per_poll = 1; /* one ADC conversion (~110 us) per loop: encoders stay fast */
    for (uint8_t i = 0; i < 8; i++) {
        c->fader_adc[i] = i;
        c->button_pin[i] = (uint8_t)(PIN_MUX_BASE + i);
    }
    for (uint8_t i = 0; i < 4; i++) {
        c->enc_a_pin[i] = (uint8_t)(2u + 2u * i);
        c->enc_b_pin[i] = (uint8_t)(3u + 2u * i);
        c->enc_push_pin[i] = (uint8_t)(PIN_MUX_BASE + 8u + i);
    }
}

int main(void)
{
    setup_hardware();
    sei();
    configure(&CFG);
    box_init(&BOX, &HW, 0, &CFG);
    box_announce(&BOX);
    for (;;) {
        while (rx_tail != rx_head) {
            uint8_t b = rx_ring[rx_tail];
            rx_tail = (uint8_t)((rx_tail + 1u) & (RX_RING - 1u));
            box_rx_byte(&BOX, b);
        }
        box_poll(&BOX);
    }
}
