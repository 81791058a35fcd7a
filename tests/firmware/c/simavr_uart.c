/*
 * Runs an AVR firmware image in simavr (libsimavr) and talks to its UART:
 * optional bytes are injected at given simulated times, every byte the
 * firmware transmits is captured exactly (binary-safe, unlike simavr's
 * console echo) and printed as one hex line at the end:
 *
 *   simavr_uart ELF MCU FREQ_HZ RUN_MS ADC0_MV [AT_MS HEX]...
 *   -> "TX <hex>" and "CYCLES <n>"
 *
 * Time is simulated, so results do not depend on the host's speed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "avr_adc.h"
#include "avr_ioport.h"
#include "avr_uart.h"
#include "sim_avr.h"
#include "sim_elf.h"
#include "sim_irq.h"

static uint8_t tx[65536];
static size_t tx_len;

static void on_tx(struct avr_irq_t *irq, uint32_t value, void *param)
{
    (void)irq;
    (void)param;
    if (tx_len < sizeof tx)
        tx[tx_len++] = (uint8_t)value;
}

int main(int argc, char **argv)
{
    if (argc < 6 || (argc - 6) % 2 != 0) {
        fprintf(stderr, "usage: simavr_uart ELF MCU FREQ_HZ RUN_MS ADC0_MV [AT_MS HEX]...\n");
        return 2;
    }
    elf_firmware_t fw;
    memset(&fw, 0, sizeof fw);
    if (elf_read_firmware(argv[1], &fw) != 0) {
        fprintf(stderr, "cannot read %s\n", argv[1]);
        return 1;
    }
    avr_t *avr = avr_make_mcu_by_name(argv[2]);
    if (!avr) {
        fprintf(stderr, "unknown mcu %s\n", argv[2]);
        return 1;
    }
    avr_init(avr);
    fw.frequency = (uint32_t)strtoul(argv[3], NULL, 10);
    avr_load_firmware(avr, &fw);
    avr->frequency = fw.frequency;
    avr->sleep = avr_callback_sleep_raw; /* never wait in real time */
    avr->avcc = avr->aref = avr->vcc = 5000;
    avr->log = 0;

    uint32_t flags = 0;
    avr_ioctl(avr, AVR_IOCTL_UART_GET_FLAGS('0'), &flags);
    flags &= ~(uint32_t)AVR_UART_FLAG_STDIO;
    avr_ioctl(avr, AVR_IOCTL_UART_SET_FLAGS('0'), &flags);
    avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUTPUT), on_tx,
                            NULL);
    avr_raise_irq(avr_io_getirq(avr, AVR_IOCTL_ADC_GETIRQ, ADC_IRQ_ADC0),
                  (uint32_t)strtoul(argv[5], NULL, 10));

    uint64_t per_ms = fw.frequency / 1000u;
    uint64_t end = (uint64_t)strtoul(argv[4], NULL, 10) * per_ms;
    int next = 6;
    avr_irq_t *rx = avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_INPUT);
    int state = cpu_Running;
    while (avr->cycle < end && state != cpu_Done && state != cpu_Crashed) {
        if (next < argc && avr->cycle >= strtoull(argv[next], NULL, 10) * per_ms) {
            const char *hex = argv[next + 1];
            for (size_t i = 0; hex[i] && hex[i + 1]; i += 2) {
                unsigned v;
                sscanf(hex + i, "%2x", &v);
                avr_raise_irq(rx, v); /* queued in the UART's receive FIFO */
            }
            next += 2;
        }
        state = avr_run(avr);
    }
    printf("TX ");
    for (size_t i = 0; i < tx_len; i++)
        printf("%02x", tx[i]);
    printf("\nCYCLES %llu\nSTATE %d\n", (unsigned long long)avr->cycle, state);
    return state == cpu_Crashed ? 3 : 0;
}
